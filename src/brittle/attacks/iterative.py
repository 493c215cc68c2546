"""The shared loop of gradient attacks: restarts, early stopping and batch compaction.

Each step costs one forward and one backward pass on the samples still being attacked. When
``early_stop`` is on, a sample leaves the batch the moment it is adversarial, so the batch
shrinks as the attack works (most samples of an undefended model leave within a few steps).
Restarts only see the samples that every previous restart failed on.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Literal

import torch

from brittle.attacks.base import Attack, AttackContext, LossKind
from brittle.attacks.functional import Norm, attack_loss, is_adversarial, per_sample
from brittle.errors import BrittleError

State = dict[str, torch.Tensor]


@dataclass
class _Kept:
    """Per-sample iterate kept so far, its score, logits and first success step."""

    x: torch.Tensor
    score: torch.Tensor
    logits: torch.Tensor
    first: torch.Tensor

    @classmethod
    def start(cls, x: torch.Tensor, num_classes: int) -> _Kept:
        n = len(x)
        return cls(x.clone(), torch.full((n,), float("-inf"), device=x.device),
                   torch.full((n, num_classes), float("nan"), device=x.device),
                   torch.full((n,), -1, dtype=torch.int64, device=x.device))

    def put(self, where: torch.Tensor, x: torch.Tensor, logits: torch.Tensor) -> None:
        self.x[where] = x
        self.logits[where] = logits


class IterativeAttack(Attack):
    """A gradient attack made of ``steps`` projected steps from a (random) start.

    Each step moves ``step_size`` along :meth:`_direction` (the steepest-ascent direction of
    the loss gradient unless a subclass says otherwise) and projects back onto the eps ball.
    Subclasses may override :meth:`_direction`, :meth:`_start` and :meth:`_new_state`.
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

    _warm: torch.Tensor | None = None  # set only inside warm_start()
    _budgets: tuple[torch.Tensor, torch.Tensor] | None = None  # set only inside own_budgets()

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
        kept = _Kept.start(ctx.x, ctx.classifier.num_classes)
        warm = self._warm.to(ctx.x.device) if self._warm is not None else None
        if warm is not None and warm.shape != ctx.x.shape:
            raise BrittleError(f"warm start of shape {tuple(warm.shape)} for images of shape "
                               f"{tuple(ctx.x.shape)}")
        if self._budgets is not None and self._budgets[0].shape != (n,):
            raise BrittleError(f"{len(self._budgets[0])} budgets for {n} images")
        for r in range(self.restarts):
            idx = torch.nonzero(kept.first < 0).flatten() if self.early_stop else torch.arange(n)
            if idx.numel() == 0:
                break
            idx = idx.to(ctx.x.device)
            init = warm[idx] if warm is not None and r == 0 else None
            self._run_once(ctx, idx, kept, init=init)
        if not torch.isnan(kept.logits).any():
            ctx.candidate_logits = kept.logits
        return kept.x, kept.first

    @contextlib.contextmanager
    def warm_start(self, x_init: torch.Tensor) -> Iterator[None]:
        """Within the block, calls start their first restart from ``x_init`` ``(N, C, H, W)``
        (projected onto the eps ball) instead of :meth:`_start`; robustness curves use it to
        continue from an adversarial found at a larger budget."""
        self._warm = x_init.detach()
        try:
            yield
        finally:
            self._warm = None

    @contextlib.contextmanager
    def own_budgets(self, eps: torch.Tensor, step_size: torch.Tensor) -> Iterator[None]:
        """Within the block, calls attack each image ``i`` within its own budget ``eps[i]``,
        with steps of ``step_size[i]`` (both ``(N,)``, ``eps <= self.eps``), as the attack
        built with that budget would: robustness curves attack samples probing different
        budgets in one batch."""
        if eps.shape != step_size.shape or bool((eps > self.eps).any()):
            raise BrittleError(f"own budgets must be (N,) tensors within eps={self.eps}")
        self._budgets = (eps.detach(), step_size.detach())
        try:
            yield
        finally:
            self._budgets = None

    def _budget(self, ctx: AttackContext,
                idx: torch.Tensor) -> tuple[float | torch.Tensor, float | torch.Tensor]:
        """Eps and step size ``(n,)`` of the images ``idx`` inside :meth:`own_budgets`, else
        the attack's own scalars."""
        if self._budgets is None:
            return self.eps, self.step_size
        eps, step = (b.to(ctx.x.device)[idx] for b in self._budgets)
        return eps, step

    def _run_once(self, ctx: AttackContext, idx: torch.Tensor, kept: _Kept, *,
                  init: torch.Tensor | None = None) -> None:
        x0, y = ctx.x[idx], ctx.labels[idx]
        tgt = ctx.target[idx] if ctx.target is not None else None
        eps, step = self._budget(ctx, idx)
        x_adv = ctx.project(self._start(ctx, x0, idx) if init is None else init, x0, eps)
        state = self._new_state(x0)
        for t in range(self.steps):
            loss, logits, grad = ctx.loss_and_grad(x_adv, y, tgt, self.loss)
            adv = is_adversarial(logits, y, tgt)
            self._record(t, idx, x_adv, logits, loss, adv, kept, last=False)
            if self.early_stop:
                keep = ~adv
                idx, x0, y, x_adv, grad = idx[keep], x0[keep], y[keep], x_adv[keep], grad[keep]
                tgt = tgt[keep] if tgt is not None else None
                eps, step = _rows(eps, keep), _rows(step, keep)
                state = {k: v[keep] for k, v in state.items()}
                if idx.numel() == 0:
                    return
            if self.norm == "l1":
                grad = into_box(grad, x_adv, ctx.bounds)
            move = per_sample(step, x0) * self._direction(grad, state)
            x_adv = ctx.project(x_adv + move, x0, eps)
        if self.keep == "best":
            # a sample adversarial at an earlier iterate keeps that one whatever the final
            # iterate does, so only the others need the final forward pass
            open_ = kept.first[idx] < 0
            idx, y, x_adv = idx[open_], y[open_], x_adv[open_]
            tgt = tgt[open_] if tgt is not None else None
            if idx.numel() == 0:
                return
        with torch.no_grad():
            logits = ctx.logits(x_adv)
        loss = attack_loss(logits, y, tgt, self.loss)
        self._record(self.steps, idx, x_adv, logits, loss, is_adversarial(logits, y, tgt), kept,
                     last=True)

    def _record(self, t: int, idx: torch.Tensor, x_adv: torch.Tensor, logits: torch.Tensor,
                loss: torch.Tensor, adv: torch.Tensor, kept: _Kept, *, last: bool) -> None:
        newly = adv & (kept.first[idx] < 0)
        kept.first[idx[newly]] = t
        if self.keep == "last":
            # with early stopping an adversarial sample leaves now: its last iterate is this one
            write = torch.ones_like(adv) if last else adv
            kept.put(idx[write], x_adv[write], logits[write])
            return
        # adversarial iterates beat any loss; among the rest keep the highest loss
        score = torch.where(adv, torch.full_like(loss, float("inf")), loss)
        improve = (score > kept.score[idx]) & ~(kept.first[idx] >= 0) | newly
        kept.put(idx[improve], x_adv[improve], logits[improve])
        kept.score[idx[improve]] = score[improve]

    def _start(self, ctx: AttackContext, x0: torch.Tensor, idx: torch.Tensor) -> torch.Tensor:
        """Starting point of the images ``idx`` (``x0``): uniform in the Linf box, or a random
        direction for L2/L1."""
        if not self.random_start or self.eps == 0:
            return x0.clone()
        eps, _ = self._budget(ctx, idx)
        noise = ctx.uniform_noise(idx)
        if self.norm == "linf":
            return x0 + per_sample(eps, x0) * noise
        radius = ctx.uniform(idx, ())
        scale = eps * radius / _norm_of(noise, self.norm).clamp_min(1e-12)
        return x0 + noise * per_sample(scale, x0)

    def _new_state(self, x0: torch.Tensor) -> State:
        return {}

    def _direction(self, grad: torch.Tensor, state: State) -> torch.Tensor:
        """The unit-norm direction of the next step, given the loss gradient ``grad``."""
        return steepest_ascent(grad, self.norm)


def steepest_ascent(grad: torch.Tensor, norm: Norm) -> torch.Tensor:
    """The unit-norm direction of steepest ascent of a linear function with gradient ``grad``.

    Linf: ``sign(grad)``; L2: ``grad / ||grad||``; L1: all mass on the largest-|grad| coordinate
    would stall, so we use the sparse L1 descent of Tramer & Boneh (2019): the top 1% of
    coordinates by magnitude, signed and scaled to unit L1 norm. For L1, pass the gradient
    through :func:`into_box` first, or the step is spent on pixels already at a bound.
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


def into_box(grad: torch.Tensor, x: torch.Tensor, bounds: tuple[float, float]) -> torch.Tensor:
    """``grad`` with the coordinates zeroed where ascending it would push ``x`` past the bounds
    (a pixel at the lower bound with a negative component, or at the upper with a positive).

    Sparse L1 steps put all their mass on the top 1% of coordinates; on images with many
    saturated pixels (MNIST's black background) most of those would be clipped away. The sparse
    L1 descent of Tramer & Boneh (2019, "Adversarial Training and Robustness for Multiple
    Perturbations") leaves such coordinates out of the choice in the same way.
    """
    low, high = bounds
    outward = ((x <= low) & (grad < 0)) | ((x >= high) & (grad > 0))
    return grad.masked_fill(outward, 0.0)


def _rows(value: float | torch.Tensor, keep: torch.Tensor) -> float | torch.Tensor:
    return value[keep] if isinstance(value, torch.Tensor) else value


def _norm_of(x: torch.Tensor, norm: Norm) -> torch.Tensor:
    flat = x.flatten(1)
    return flat.abs().amax(1) if norm == "linf" else flat.norm(p=2 if norm == "l2" else 1, dim=1)

