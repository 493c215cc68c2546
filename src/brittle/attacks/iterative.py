"""The shared loop of gradient attacks: restarts, early stopping and batch compaction.

Each step costs one forward and one backward pass on the samples still being attacked. When
``early_stop`` is on, a sample leaves the batch the moment it is adversarial, so the batch
shrinks as the attack works (most samples of an undefended model leave within a few steps).
Restarts only see the samples that every previous restart failed on.
"""

from __future__ import annotations

from abc import abstractmethod
from typing import Literal

import torch

from brittle.attacks.base import Attack, AttackContext, LossKind
from brittle.attacks.functional import Norm, attack_loss, is_adversarial
from brittle.errors import BrittleError

State = dict[str, torch.Tensor]


class IterativeAttack(Attack):
    """A gradient attack made of ``steps`` projected steps from a (random) start.

    Subclasses implement :meth:`_step` and may override :meth:`_start` and :meth:`_new_state`.
    Per-sample state tensors in ``state`` are compacted together with the batch.

    Args:
        steps: Gradient steps per restart.
        step_size: Step length in the attack's norm (pixel scale); default ``2.5 * eps / steps``.
        restarts: Independent random restarts; each sees only the samples still robust.
        random_start: Start from a uniform point in the eps ball instead of the clean image.
        loss: ``ce`` (cross-entropy), ``margin`` (C&W) or ``dlr``.
        keep: ``best`` returns the first adversarial iterate, or else the highest-loss one;
            ``last`` returns the final iterate (what adversarial training uses).
    """

    def __init__(self, *, eps: float, norm: Norm = "linf", steps: int = 10,
                 step_size: float | None = None, restarts: int = 1, random_start: bool = True,
                 loss: LossKind = "ce", keep: Literal["best", "last"] = "best",
                 early_stop: bool = True, seed: int = 0) -> None:
        super().__init__(eps=eps, norm=norm, early_stop=early_stop, seed=seed)
        if steps < 1 or restarts < 1:
            raise BrittleError(f"steps and restarts must be >= 1, got {steps} and {restarts}")
        if step_size is not None and not step_size > 0:
            raise BrittleError(f"step_size must be > 0, got {step_size}")
        self.steps = int(steps)
        self.step_size = float(step_size) if step_size is not None else 2.5 * self.eps / self.steps
        self.restarts = int(restarts)
        self.random_start = random_start
        self.loss = loss
        self.keep = keep

    def _search(self, ctx: AttackContext) -> tuple[torch.Tensor, torch.Tensor]:
        n = len(ctx.x)
        best = ctx.x.clone()
        best_loss = torch.full((n,), float("-inf"), device=ctx.x.device)
        first = torch.full((n,), -1, dtype=torch.int64, device=ctx.x.device)
        for _ in range(self.restarts):
            idx = torch.nonzero(first < 0).flatten() if self.early_stop else torch.arange(n)
            if idx.numel() == 0:
                break
            self._run_once(ctx, idx.to(ctx.x.device), best, best_loss, first)
        return best, first

    def _run_once(self, ctx: AttackContext, idx: torch.Tensor, best: torch.Tensor,
                  best_loss: torch.Tensor, first: torch.Tensor) -> None:
        x0, y = ctx.x[idx], ctx.labels[idx]
        tgt = ctx.target[idx] if ctx.target is not None else None
        x_adv = ctx.project(self._start(ctx, x0), x0)
        state = self._new_state(x0)
        for t in range(self.steps + 1):
            if t < self.steps:
                loss, logits, grad = ctx.loss_and_grad(x_adv, y, tgt, self.loss)
            else:  # the final iterate only needs a forward pass
                with torch.no_grad():
                    logits = ctx.logits(x_adv)
                loss = attack_loss(logits, y, tgt, self.loss)
            adv = is_adversarial(logits, y, tgt)
            self._record(t, idx, x_adv, loss, adv, best, best_loss, first, last=t == self.steps)
            if self.early_stop:
                keep = ~adv
                idx, x0, y, x_adv = idx[keep], x0[keep], y[keep], x_adv[keep]
                tgt = tgt[keep] if tgt is not None else None
                state = {k: v[keep] for k, v in state.items()}
                if t < self.steps:
                    grad = grad[keep]
                if idx.numel() == 0:
                    return
            if t < self.steps:
                x_adv = ctx.project(self._step(ctx, x_adv, grad, x0, state, t), x0)

    def _record(self, t: int, idx: torch.Tensor, x_adv: torch.Tensor, loss: torch.Tensor,
                adv: torch.Tensor, best: torch.Tensor, best_loss: torch.Tensor,
                first: torch.Tensor, *, last: bool) -> None:
        newly = adv & (first[idx] < 0)
        first[idx[newly]] = t
        if self.keep == "last":
            if last:
                best[idx] = x_adv
            return
        # adversarial iterates beat any loss; among the rest keep the highest loss
        score = torch.where(adv, torch.full_like(loss, float("inf")), loss)
        improve = (score > best_loss[idx]) & ~(first[idx] >= 0) | newly
        best[idx[improve]] = x_adv[improve]
        best_loss[idx[improve]] = score[improve]

    def _start(self, ctx: AttackContext, x0: torch.Tensor) -> torch.Tensor:
        """Starting point: uniform in the Linf box, or a random direction for L2/L1."""
        if not self.random_start or self.eps == 0:
            return x0.clone()
        noise = ctx.uniform_noise(x0)
        if self.norm == "linf":
            return x0 + self.eps * noise
        radius = torch.rand(len(x0), generator=ctx.generator).to(x0.device)
        scale = self.eps * radius / _norm_of(noise, self.norm).clamp_min(1e-12)
        return x0 + noise * scale.view(-1, *([1] * (x0.ndim - 1)))

    def _new_state(self, x0: torch.Tensor) -> State:
        return {}

    @abstractmethod
    def _step(self, ctx: AttackContext, x_adv: torch.Tensor, grad: torch.Tensor,
              x0: torch.Tensor, state: State, t: int) -> torch.Tensor:
        """One ascent step from ``x_adv`` given the loss gradient; the loop projects it."""


def steepest_ascent(grad: torch.Tensor, norm: Norm) -> torch.Tensor:
    """The unit-norm direction of steepest ascent of a linear function with gradient ``grad``.

    Linf: ``sign(grad)``; L2: ``grad / ||grad||``; L1: all mass on the largest-|grad| coordinate
    would stall, so we use the sparse L1 descent of Tramer & Boneh (2019): the top 1% of
    coordinates by magnitude, signed and scaled to unit L1 norm.
    """
    if norm == "linf":
        return grad.sign()
    flat = grad.flatten(1)
    if norm == "l2":
        return (flat / flat.norm(dim=1, keepdim=True).clamp_min(1e-12)).view_as(grad)
    k = max(1, int(0.01 * flat.shape[1]))
    threshold = flat.abs().topk(k, dim=1).values[:, -1:]
    mask = (flat.abs() >= threshold).to(flat.dtype)
    direction = flat.sign() * mask
    return (direction / direction.abs().sum(dim=1, keepdim=True).clamp_min(1e-12)).view_as(grad)


def _norm_of(x: torch.Tensor, norm: Norm) -> torch.Tensor:
    flat = x.flatten(1)
    return flat.abs().amax(1) if norm == "linf" else flat.norm(p=2 if norm == "l2" else 1, dim=1)

