"""Auto-PGD (Croce & Hein 2020, "Reliable evaluation of adversarial robustness with an ensemble
of diverse parameter-free attacks", ICML): PGD with momentum whose step size needs no tuning.

APGD starts with the step ``2 * eps`` and halves it at checkpoints ``w_j = ceil(p_j * steps)``,
``p_0 = 0``, ``p_1 = 0.22``, ``p_{j+1} = p_j + max(p_j - p_{j-1} - 0.03, 0.06)``, whenever

1. the loss went up in fewer than ``rho`` of the steps since the last checkpoint, or
2. the step was not halved at the last checkpoint and the best loss has not improved since;

after halving, the sample restarts from its best point. All of this state is per sample, so a
sample that is fooled leaves the batch at once (early stopping with batch compaction), and
restarts and target classes only see the samples still robust.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass, fields, replace
from typing import ClassVar, Literal

import torch

from brittle.attacks.base import Attack, AttackContext
from brittle.attacks.functional import Norm, attack_loss, is_adversarial, lp_norm, per_sample
from brittle.attacks.iterative import steepest_ascent
from brittle.attacks.registry import ATTACKS
from brittle.attacks.sweep import clean_logits, ranked_targets
from brittle.errors import BrittleError

ApgdLoss = Literal["ce", "dlr"]


def checkpoints(steps: int) -> list[int]:
    """The iterations ``w_j`` (``0 < w_j <= steps``) at which APGD may halve its step size.

    Example:
        >>> checkpoints(100)
        [22, 41, 57, 70, 80, 87, 93, 99]
    """
    marks: list[int] = []
    p_prev, p = 0.0, 0.22
    while p <= 1.0:
        marks.append(math.ceil(p * steps - 1e-9))  # the tolerance absorbs float noise in p
        p_prev, p = p, p + max(p - p_prev - 0.03, 0.06)
    return sorted({w for w in marks if 0 < w <= steps})


@dataclass
class _State:
    """Per-sample state of one APGD run; every field is indexed by sample and compacted."""

    idx: torch.Tensor  # positions in the full batch
    x0: torch.Tensor
    y: torch.Tensor
    loss_target: torch.Tensor | None  # the class the loss pushes towards (targeted losses)
    goal: torch.Tensor | None  # the class that counts as success (None: any wrong class)
    x: torch.Tensor
    x_prev: torch.Tensor
    eta: torch.Tensor  # step size (N,)
    loss: torch.Tensor
    grad: torch.Tensor
    x_best: torch.Tensor
    loss_best: torch.Tensor
    grad_best: torch.Tensor
    ups: torch.Tensor  # steps since the last checkpoint on which the loss went up
    best_at_mark: torch.Tensor
    halved_at_mark: torch.Tensor

    def keep(self, mask: torch.Tensor) -> _State:
        return replace(self, **{f.name: v[mask] for f in fields(self)
                                if (v := getattr(self, f.name)) is not None})


class APGD(Attack):
    """Auto-PGD with the cross-entropy or the DLR loss (Croce & Hein 2020, ICML).

    Use the registered variants ``apgd-ce``, ``apgd-dlr`` and ``apgd-t``.

    Args:
        eps: Perturbation budget in pixel scale.
        norm: ``linf`` or ``l2``.
        steps: Iterations per restart (each costs one forward and one backward pass).
        restarts: Random restarts; each sees only the samples every earlier one failed on.
        rho: Condition 1 halves the step if the loss rose on fewer than ``rho`` of the steps.
        alpha: Momentum weight of the new step (``1 - alpha`` goes to the previous one).
        random_start: Start from a random point on the eps sphere instead of the clean image.
        early_stop: Drop a sample from the batch as soon as it is adversarial.
        seed: Seeds the random starts.

    Inputs are images ``(N, C, H, W)`` and labels ``(N,)``. ``success_step`` counts gradient
    iterations spent on the sample up to its success, summed over restarts (and target
    classes); the random start is iteration 1.

    Example:
        >>> from brittle.attacks import create
        >>> create("apgd-dlr", eps=8 / 255, restarts=2).settings()["loss"]
        'dlr'
    """

    name = "apgd"
    norms: tuple[Norm, ...] = ("linf", "l2")
    loss_kind: ClassVar[ApgdLoss] = "ce"

    def __init__(self, *, eps: float, norm: Norm = "linf", steps: int = 100, restarts: int = 1,
                 rho: float = 0.75, alpha: float = 0.75, random_start: bool = True,
                 early_stop: bool = True, seed: int = 0) -> None:
        super().__init__(eps=eps, norm=norm, early_stop=early_stop, seed=seed)
        if steps < 1 or restarts < 1:
            raise BrittleError(f"steps and restarts must be >= 1, got {steps} and {restarts}")
        if not (0 < rho <= 1 and 0 < alpha <= 1):
            raise BrittleError(f"rho and alpha must lie in (0, 1], got {rho} and {alpha}")
        self.steps = int(steps)
        self.restarts = int(restarts)
        self.rho = float(rho)
        self.alpha = float(alpha)
        self.random_start = random_start
        self.loss = self.loss_kind

    def _search(self, ctx: AttackContext) -> tuple[torch.Tensor, torch.Tensor]:
        self._check_classes(ctx.classifier.num_classes, targeted=ctx.target is not None)
        n = len(ctx.x)
        out = ctx.x.clone()
        out_loss = torch.full((n,), float("-inf"), device=ctx.x.device)
        first = torch.full((n,), -1, dtype=torch.int64, device=ctx.x.device)
        first[is_adversarial(clean_logits(ctx), ctx.labels, ctx.target)] = 0
        spent = torch.zeros_like(first)
        for loss_target in self._passes(ctx):
            idx = torch.nonzero(first < 0).flatten() if self.early_stop else torch.arange(n)
            if idx.numel() == 0:
                break
            idx = idx.to(ctx.x.device)
            self._run(ctx, idx, loss_target, out, out_loss, first, spent)
            spent[idx] += self.steps + 1
        return out, first

    def _check_classes(self, num_classes: int, *, targeted: bool) -> None:
        needed = 4 if targeted else 3  # the (targeted) DLR loss reads the 3rd (4th) largest logit
        if self.loss == "dlr" and num_classes < needed:
            raise BrittleError(f"{self.name} needs at least {needed} classes here, the model has "
                               f"{num_classes}")

    def _passes(self, ctx: AttackContext) -> Iterator[torch.Tensor | None]:
        """The loss target of each pass over the batch ``(N,)`` (``None``: untargeted loss)."""
        for _ in range(self.restarts):
            yield ctx.target

    def _run(self, ctx: AttackContext, idx: torch.Tensor, loss_target: torch.Tensor | None,
             out: torch.Tensor, out_loss: torch.Tensor, first: torch.Tensor,
             spent: torch.Tensor) -> None:
        """One APGD run on the samples ``idx``; writes successes and best points into ``out``."""
        s = self._init_state(ctx, idx, loss_target)
        marks, last_mark = set(checkpoints(self.steps)), 0
        for k in range(self.steps + 1):
            loss, logits, grad = self._evaluate(ctx, s, with_grad=k < self.steps)
            self._update_best(s, loss, grad, first_eval=k == 0)
            adv = is_adversarial(logits, s.y, s.goal)
            newly = adv & (first[s.idx] < 0)
            first[s.idx[newly]] = spent[s.idx[newly]] + k + 1
            out[s.idx[newly]] = s.x[newly]
            out_loss[s.idx[newly]] = float("inf")
            if self.early_stop:
                s = s.keep(~adv)
                if s.idx.numel() == 0:
                    return
            if k == self.steps:
                break
            if k in marks:
                self._checkpoint(s, k - last_mark)
                last_mark = k
            s.x, s.x_prev = self._step(ctx, s, momentum=k > 0), s.x
        better = s.loss_best > out_loss[s.idx]
        out[s.idx[better]] = s.x_best[better]
        out_loss[s.idx[better]] = s.loss_best[better]

    def _init_state(self, ctx: AttackContext, idx: torch.Tensor,
                    loss_target: torch.Tensor | None) -> _State:
        x0 = ctx.x[idx]
        x = ctx.project(self._start(ctx, x0, idx), x0)
        n = len(idx)
        empty = torch.zeros(n, device=x0.device)
        return _State(idx=idx, x0=x0, y=ctx.labels[idx],
                      loss_target=loss_target[idx] if loss_target is not None else None,
                      goal=ctx.target[idx] if ctx.target is not None else None,
                      x=x, x_prev=x, eta=torch.full((n,), 2 * self.eps, device=x0.device),
                      loss=empty, grad=torch.zeros_like(x), x_best=x.clone(),
                      loss_best=empty.clone(), grad_best=torch.zeros_like(x),
                      ups=torch.zeros(n, dtype=torch.int64, device=x0.device),
                      best_at_mark=empty.clone(),
                      halved_at_mark=torch.zeros(n, dtype=torch.bool, device=x0.device))

    def _start(self, ctx: AttackContext, x0: torch.Tensor, idx: torch.Tensor) -> torch.Tensor:
        """A random point on the eps sphere of the attack's norm (the clean image if disabled)."""
        if not self.random_start or self.eps == 0:
            return x0.clone()
        noise = ctx.uniform_noise(idx) if self.norm == "linf" else ctx.normal_noise(idx)
        size = per_sample(lp_norm(noise, self.norm).clamp_min(1e-12), x0)
        return x0 + self.eps * noise / size

    def _evaluate(self, ctx: AttackContext, s: _State, *, with_grad: bool,
                  ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        if with_grad:
            return ctx.loss_and_grad(s.x, s.y, s.loss_target, self.loss)
        with torch.no_grad():  # the last iterate needs no gradient
            logits = ctx.logits(s.x)
        return attack_loss(logits, s.y, s.loss_target, self.loss), logits, s.grad

    @staticmethod
    def _update_best(s: _State, loss: torch.Tensor, grad: torch.Tensor, *,
                     first_eval: bool) -> None:
        s.ups += (loss > s.loss).to(s.ups.dtype)
        s.loss, s.grad = loss, grad
        if first_eval:
            s.ups.zero_()
            s.loss_best, s.best_at_mark = loss.clone(), loss.clone()
            s.x_best, s.grad_best = s.x.clone(), grad.clone()
            return
        better = loss > s.loss_best
        s.loss_best = torch.where(better, loss, s.loss_best)
        s.x_best[better] = s.x[better]
        s.grad_best[better] = grad[better]

    def _checkpoint(self, s: _State, span: int) -> None:
        """Halve the step of the samples that meet condition 1 or 2; restart them at their best."""
        few_ups = s.ups < self.rho * span
        stalled = ~s.halved_at_mark & (s.loss_best <= s.best_at_mark)
        halve = few_ups | stalled
        s.eta = torch.where(halve, s.eta / 2, s.eta)
        s.x[halve] = s.x_best[halve]
        s.x_prev[halve] = s.x_best[halve]  # the restart carries no momentum
        s.grad[halve] = s.grad_best[halve]
        s.loss = torch.where(halve, s.loss_best, s.loss)
        s.halved_at_mark, s.best_at_mark = halve, s.loss_best.clone()
        s.ups = torch.zeros_like(s.ups)

    def _step(self, ctx: AttackContext, s: _State, *, momentum: bool) -> torch.Tensor:
        eta = per_sample(s.eta, s.x)
        z = ctx.project(s.x + eta * steepest_ascent(s.grad, self.norm), s.x0)
        if not momentum:
            return z
        a = self.alpha
        return ctx.project(s.x + a * (z - s.x) + (1 - a) * (s.x - s.x_prev), s.x0)


@ATTACKS.register("apgd-ce")
class APGDCE(APGD):
    """APGD on the cross-entropy loss (Croce & Hein 2020), AutoAttack's first attack.

    Inputs are images ``(N, C, H, W)`` and labels ``(N,)``; a ``target`` makes it minimize the
    cross-entropy of the target class instead.

    Example:
        >>> import torch
        >>> from torch import nn
        >>> from brittle.models import Classifier
        >>> torch.manual_seed(0)  # doctest: +ELLIPSIS
        <torch._C.Generator object at ...>
        >>> clf = Classifier(nn.Sequential(nn.Flatten(), nn.Linear(4, 3)), input_shape=(1, 2, 2))
        >>> x, y = torch.rand(8, 1, 2, 2), torch.zeros(8, dtype=torch.long)
        >>> result = APGDCE(eps=0.1, steps=10)(clf, x, y)
        >>> bool(result.norms.max() <= 0.1 + 1e-6)
        True
    """

    name = "apgd-ce"
    loss_kind: ClassVar[ApgdLoss] = "ce"


@ATTACKS.register("apgd-dlr")
class APGDDLR(APGD):
    """APGD on the difference-of-logits-ratio loss (Croce & Hein 2020), robust to logit scaling.

    Inputs are images ``(N, C, H, W)`` and labels ``(N,)``; needs at least 3 classes (4 with a
    ``target``, which switches to the targeted DLR loss).

    Example:
        >>> import torch
        >>> from torch import nn
        >>> from brittle.models import Classifier
        >>> clf = Classifier(nn.Sequential(nn.Flatten(), nn.Linear(4, 4)), input_shape=(1, 2, 2))
        >>> x, y = torch.rand(8, 1, 2, 2), torch.zeros(8, dtype=torch.long)
        >>> result = APGDDLR(eps=0.1, steps=10)(clf, x, y)
        >>> result.x_adv.shape
        torch.Size([8, 1, 2, 2])
    """

    name = "apgd-dlr"
    loss_kind: ClassVar[ApgdLoss] = "dlr"


@ATTACKS.register("apgd-t")
class APGDT(APGD):
    """Targeted APGD on the targeted DLR loss, swept over the top classes (Croce & Hein 2020).

    Without a ``target`` this is AutoAttack's APGD-T: one run (times ``restarts``) per target
    class, the classes of rank 2 to ``n_target_classes + 1`` under the clean logits, each run
    only on the samples still robust; success means any misclassification. With a ``target``
    it is a plain targeted attack: success means the target class is predicted.

    Args:
        n_target_classes: How many target classes to sweep (at most ``K - 1``).
        **others: As for :class:`APGD`.

    Inputs are images ``(N, C, H, W)`` and labels ``(N,)``; needs at least 4 classes.

    Example:
        >>> import torch
        >>> from torch import nn
        >>> from brittle.models import Classifier
        >>> clf = Classifier(nn.Sequential(nn.Flatten(), nn.Linear(4, 5)), input_shape=(1, 2, 2))
        >>> x, y = torch.rand(8, 1, 2, 2), torch.zeros(8, dtype=torch.long)
        >>> result = APGDT(eps=0.1, steps=10, n_target_classes=3)(clf, x, y)
        >>> result.success.shape
        torch.Size([8])
    """

    name = "apgd-t"
    loss_kind: ClassVar[ApgdLoss] = "dlr"

    def __init__(self, *, eps: float, norm: Norm = "linf", steps: int = 100, restarts: int = 1,
                 n_target_classes: int = 9, rho: float = 0.75, alpha: float = 0.75,
                 random_start: bool = True, early_stop: bool = True, seed: int = 0) -> None:
        super().__init__(eps=eps, norm=norm, steps=steps, restarts=restarts, rho=rho,
                         alpha=alpha, random_start=random_start, early_stop=early_stop,
                         seed=seed)
        if n_target_classes < 1:
            raise BrittleError(f"n_target_classes must be >= 1, got {n_target_classes}")
        self.n_target_classes = int(n_target_classes)

    def _check_classes(self, num_classes: int, *, targeted: bool) -> None:
        super()._check_classes(num_classes, targeted=True)  # always the targeted DLR loss

    def _passes(self, ctx: AttackContext) -> Iterator[torch.Tensor | None]:
        if ctx.target is not None:
            yield from super()._passes(ctx)
            return
        count = min(self.n_target_classes, ctx.classifier.num_classes - 1)
        for target in ranked_targets(clean_logits(ctx), ctx.labels, count):
            for _ in range(self.restarts):
                yield target
