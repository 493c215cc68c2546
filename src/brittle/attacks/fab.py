"""FAB, the fast adaptive boundary attack (Croce & Hein 2020, "Minimally distorted adversarial
examples with a fast adaptive boundary attack", ICML): a minimum-norm attack.

Each iteration linearizes the classifier at the current point, picks the closest linearized
decision boundary, and projects both the current point and the original image onto that
hyperplane (inside the input box). The next point is a convex combination of the two
projections (biased towards the original image by at most ``alpha_max``), extrapolated by
``eta``. Once a point is adversarial it is recorded and pulled back towards the original image
by ``beta``, so the search keeps shrinking the perturbation.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, fields, replace

import torch

from brittle.attacks.base import Attack, AttackContext, LossFn
from brittle.attacks.functional import Norm, attack_loss, is_adversarial, lp_norm
from brittle.attacks.registry import ATTACKS
from brittle.attacks.sweep import clean_logits, ranked_targets
from brittle.errors import BrittleError


def hyperplane_box_projection(points: torch.Tensor, w: torch.Tensor, c: torch.Tensor,
                              low: float, high: float, norm: Norm) -> torch.Tensor:
    """The smallest step ``d`` with ``<w, d> = c`` and ``low <= points + d <= high``.

    Minimum Linf or L2 norm, solved exactly per row by sorting the breakpoints of the piecewise
    linear function ``t -> max <w, d(t)>``. Where the box makes the hyperplane unreachable, ``d``
    goes as far towards it as the box allows.

    Args:
        points: ``(N, D)``.
        w: Hyperplane normals ``(N, D)``.
        c: Required inner products ``(N,)``.
        low, high: The box.
        norm: ``linf`` or ``l2``.

    Returns:
        Steps ``(N, D)``.

    Example:
        >>> hyperplane_box_projection(torch.tensor([[0.5, 0.5]]), torch.tensor([[1.0, 1.0]]),
        ...                           torch.tensor([0.2]), 0.0, 1.0, "linf")
        tensor([[0.1000, 0.1000]])
    """
    sign = torch.sign(c)[:, None] * torch.sign(w)  # direction each coordinate moves in
    a = w.abs()
    room = torch.where(sign > 0, high - points, points - low).clamp_min(0)
    room = torch.where(a > 0, room, torch.zeros_like(room))
    slope = torch.ones_like(a) if norm == "linf" else a  # d_i = min(t * slope_i, room_i)
    slope = torch.where(a > 0, slope, torch.ones_like(slope))
    t = _solve_breakpoints(a, slope, room, c.abs())
    return sign * torch.minimum(t[:, None] * slope, room)


def _solve_breakpoints(a: torch.Tensor, slope: torch.Tensor, room: torch.Tensor,
                       target: torch.Tensor) -> torch.Tensor:
    """The smallest ``t >= 0`` with ``sum_i a_i min(t slope_i, room_i) = target`` (inf if none)."""
    kinks, order = (room / slope).sort(dim=1)
    a_s, slope_s, room_s = a.gather(1, order), slope.gather(1, order), room.gather(1, order)
    saturated = (a_s * room_s).cumsum(1) - a_s * room_s  # coordinates below kink k are capped
    rising = (a_s * slope_s).flip(1).cumsum(1).flip(1)  # coordinates from kink k on still grow
    reached = saturated + kinks * rising >= target[:, None]
    k = reached.to(torch.int64).argmax(dim=1, keepdim=True)
    t = (target[:, None] - saturated.gather(1, k)) / rising.gather(1, k).clamp_min(1e-30)
    return torch.where(reached.any(dim=1), t.squeeze(1).clamp_min(0),
                       torch.full_like(target, float("inf")))


def _logit_gap(logits: torch.Tensor, labels: torch.Tensor,
               target: torch.Tensor | None) -> torch.Tensor:
    """``f_target - f_label`` per sample: positive beyond the decision boundary."""
    assert target is not None
    return (logits.gather(1, target[:, None]) - logits.gather(1, labels[:, None])).squeeze(1)


def _target_margin(logits: torch.Tensor, labels: torch.Tensor,
                   target: torch.Tensor | None) -> torch.Tensor:
    """``f_target - max_{l != target} f_l``: positive once the target class is predicted."""
    return attack_loss(logits, labels, target, "margin")


@dataclass
class _State:
    """Per-sample state of one FAB run, compacted together."""

    idx: torch.Tensor
    x0: torch.Tensor
    y: torch.Tensor
    toward: torch.Tensor | None  # the one boundary FAB-T linearizes (None: all classes)
    goal: torch.Tensor | None  # success class (None: any wrong class)
    x: torch.Tensor

    def keep(self, mask: torch.Tensor | slice) -> _State:
        return replace(self, **{f.name: v[mask] for f in fields(self)
                                if (v := getattr(self, f.name)) is not None})


@dataclass
class _Found:
    """The best adversarial per sample over all runs, in full-batch coordinates."""

    x: torch.Tensor
    norm: torch.Tensor
    first: torch.Tensor
    spent: torch.Tensor


@ATTACKS.register("fab")
class FAB(Attack):
    """FAB: minimally distorted adversarial examples (Croce & Hein 2020, ICML).

    Returns, per sample, the smallest adversarial perturbation found (the base class then
    projects it onto the eps ball, so ``success`` means "adversarial within eps"). The
    untargeted version linearizes all ``K - 1`` boundaries each step (``K`` backward passes);
    with a ``target`` it linearizes only the target's boundary and succeeds on the target class.

    Args:
        eps: Perturbation budget in pixel scale; success and early stopping are judged at eps.
        norm: ``linf`` or ``l2``.
        steps: Iterations per run.
        restarts: Runs per sample (target); all but the first start at a random point.
        alpha_max: Largest weight of the projection of the original image.
        eta: Extrapolation factor of each projection step.
        beta: Backward step towards the original image after an adversarial point.
        early_stop: Drop a sample once it has an adversarial example within eps; with
            ``False`` FAB keeps shrinking the perturbation for the full budget.
        seed: Seeds the random restarts.

    Inputs are images ``(N, C, H, W)`` and labels ``(N,)``. ``norms`` of the result holds the
    perturbation size; ``success_step`` counts iterations up to the first adversarial within
    eps, summed over runs.

    Example:
        >>> import torch
        >>> from torch import nn
        >>> from brittle.models import Classifier
        >>> clf = Classifier(nn.Sequential(nn.Flatten(), nn.Linear(4, 3)), input_shape=(1, 2, 2))
        >>> x, y = torch.rand(8, 1, 2, 2), torch.zeros(8, dtype=torch.long)
        >>> result = FAB(eps=0.5, steps=20)(clf, x, y)
        >>> bool(result.norms.max() <= 0.5 + 1e-6)
        True
    """

    name = "fab"
    norms: tuple[Norm, ...] = ("linf", "l2")

    def __init__(self, *, eps: float, norm: Norm = "linf", steps: int = 100, restarts: int = 1,
                 alpha_max: float = 0.1, eta: float = 1.05, beta: float = 0.9,
                 early_stop: bool = True, seed: int = 0) -> None:
        super().__init__(eps=eps, norm=norm, early_stop=early_stop, seed=seed)
        if steps < 1 or restarts < 1:
            raise BrittleError(f"steps and restarts must be >= 1, got {steps} and {restarts}")
        if not (0 <= alpha_max <= 1 and eta >= 1 and 0 < beta < 1):
            raise BrittleError("FAB needs 0 <= alpha_max <= 1, eta >= 1 and 0 < beta < 1, got "
                               f"{alpha_max}, {eta}, {beta}")
        self.steps = int(steps)
        self.restarts = int(restarts)
        self.alpha_max = float(alpha_max)
        self.eta = float(eta)
        self.beta = float(beta)

    def _search(self, ctx: AttackContext) -> tuple[torch.Tensor, torch.Tensor]:
        n, dev = len(ctx.x), ctx.x.device
        found = _Found(x=ctx.x.clone(), norm=torch.full((n,), float("inf"), device=dev),
                       first=torch.full((n,), -1, dtype=torch.int64, device=dev),
                       spent=torch.zeros(n, dtype=torch.int64, device=dev))
        already = is_adversarial(clean_logits(ctx), ctx.labels, ctx.target)
        found.first[already], found.norm[already] = 0, 0.0
        last = ctx.x.clone()  # fallback for samples never adversarial: the last iterate
        for run, toward in enumerate(self._runs(ctx)):
            todo = ~already & (found.norm > self.eps) if self.early_stop else ~already
            idx = torch.nonzero(todo).flatten()
            if idx.numel() == 0:
                break
            self._run(ctx, idx, toward, found, last, random_start=run % self.restarts > 0)
            found.spent[idx] += self.steps
        never = torch.isinf(found.norm)
        return torch.where(never.view(-1, 1, 1, 1), last, found.x), found.first

    def _runs(self, ctx: AttackContext) -> Iterator[torch.Tensor | None]:
        """The boundary to linearize in each run (``None``: all of them), ``restarts`` each."""
        for _ in range(self.restarts):
            yield ctx.target

    def _run(self, ctx: AttackContext, idx: torch.Tensor, toward: torch.Tensor | None,
             found: _Found, last: torch.Tensor, *, random_start: bool) -> None:
        x0 = ctx.x[idx]
        s = _State(idx=idx, x0=x0, y=ctx.labels[idx],
                   toward=toward[idx] if toward is not None else None,
                   goal=ctx.target[idx] if ctx.target is not None else None,
                   x=self._start(ctx, x0, idx, found.norm[idx]) if random_start else x0.clone())
        # An adversarial point is pulled back towards the original and needs a new
        # linearization. Untargeted, a linearization costs K backward passes, so each step's
        # result is first checked with a forward pass, as in the paper; targeted, it costs one,
        # so the next linearization doubles as the check and adversarial points get another.
        check_first = s.toward is None
        for k in range(self.steps):
            logits, df, dg = self._linearize(ctx, s)
            adv = self._record(s, logits, found, k)
            if adv.any() and not check_first:
                s.x[adv] = self._pulled_back(s, adv)
                sub = s.keep(adv)
                logits_b, df[adv], dg[adv] = self._linearize(ctx, sub)
                self._record(sub, logits_b, found, k)
            open_ = self._open(s, found)
            s, df, dg = s.keep(open_), df[open_], dg[open_]
            if s.idx.numel() == 0:
                return
            s.x = self._step(ctx, s, df, dg)
            if check_first or k == self.steps - 1:
                with torch.no_grad():
                    adv = self._record(s, ctx.logits(s.x), found, k + 1)
            if check_first:
                s.x[adv] = self._pulled_back(s, adv)
                s = s.keep(self._open(s, found))  # no linearization for finished samples
                if s.idx.numel() == 0:
                    return
        last[s.idx] = s.x

    def _open(self, s: _State, found: _Found) -> torch.Tensor | slice:
        """Samples to keep working on: with early stopping those with no adversarial within
        eps yet, without it all of them (a full slice, so keeping them copies nothing)."""
        if not self.early_stop:
            return slice(None)
        return found.norm[s.idx] > self.eps

    def _pulled_back(self, s: _State, adv: torch.Tensor) -> torch.Tensor:
        """The adversarial points moved towards the original by ``beta``, to shrink them."""
        return s.x0[adv] + self.beta * (s.x[adv] - s.x0[adv])

    def _start(self, ctx: AttackContext, x0: torch.Tensor, idx: torch.Tensor,
               best: torch.Tensor) -> torch.Tensor:
        """A random point for the images ``idx`` (``x0``) at half the smaller of eps and the
        best norm found so far."""
        noise = ctx.uniform_noise(idx) if self.norm == "linf" else ctx.normal_noise(idx)
        radius = 0.5 * best.clamp_max(self.eps) / lp_norm(noise, self.norm).clamp_min(1e-12)
        low, high = ctx.bounds
        return (x0 + radius.view(-1, 1, 1, 1) * noise).clamp(low, high)

    def _linearize(self, ctx: AttackContext, s: _State,
                   ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Logits ``(N, K)``, gaps ``f_l - f_y`` ``(N, M)`` and their gradients ``(N, M, D)``.

        ``M = 1`` for a targeted run (the gap to the true class in a sweep, to the best other
        class for a given target); otherwise ``M = K`` from the logits' Jacobian.
        """
        if s.toward is not None:
            # a true target must beat every class, so its boundary is against the best other
            kind: LossFn = _target_margin if s.goal is not None else _logit_gap
            gap, logits, grad = ctx.loss_and_grad(s.x, s.y, s.toward, kind)
            return logits, gap[:, None], grad.flatten(1)[:, None]
        logits, jacobian = ctx.logits_and_jacobian(s.x)
        gap = logits - logits.gather(1, s.y[:, None])
        rows = torch.arange(len(s.y), device=s.y.device)
        return logits, gap, jacobian - jacobian[rows, s.y][:, None]

    def _record(self, s: _State, logits: torch.Tensor, found: _Found, k: int) -> torch.Tensor:
        """Keep adversarial points smaller than the best so far; return the adversarial mask."""
        adv = is_adversarial(logits, s.y, s.goal)
        size = lp_norm(s.x - s.x0, self.norm)
        better = adv & (size < found.norm[s.idx])
        where = s.idx[better]
        found.x[where], found.norm[where] = s.x[better], size[better]
        newly = better & (size <= self.eps) & (found.first[s.idx] < 0)
        found.first[s.idx[newly]] = found.spent[s.idx[newly]] + k
        return adv

    def _step(self, ctx: AttackContext, s: _State, df: torch.Tensor,
              dg: torch.Tensor) -> torch.Tensor:
        """Project the current point and the original onto the closest linearized boundary."""
        dual = {"linf": 1.0, "l2": 2.0}[self.norm]
        dist = df.abs() / (dg.norm(p=dual, dim=2) + 1e-12)
        if s.toward is None:
            dist = dist.scatter(1, s.y[:, None], float("inf"))
        pick = dist.argmin(dim=1)
        rows = torch.arange(len(pick), device=pick.device)
        w, f = dg[rows, pick], df[rows, pick]
        x, x0 = s.x.flatten(1), s.x0.flatten(1)
        c = torch.cat([-f, -f - (w * (x0 - x)).sum(1)])  # reach f + <w, z - x> = 0
        d = hyperplane_box_projection(torch.cat([x, x0]), torch.cat([w, w]), c, *ctx.bounds,
                                      self.norm)
        d_x, d_0 = d.split(len(x))
        n_x, n_0 = (lp_norm(v, self.norm).clamp_min(1e-8) for v in (d_x, d_0))
        alpha = (n_x / (n_x + n_0)).clamp(0, self.alpha_max)[:, None]
        nxt = (1 - alpha) * (x + self.eta * d_x) + alpha * (x0 + self.eta * d_0)
        return nxt.clamp(*ctx.bounds).view_as(s.x)


@ATTACKS.register("fab-t")
class FABT(FAB):
    """Targeted FAB swept over the top classes, as in AutoAttack (Croce & Hein 2020).

    Without a ``target``: one run (times ``restarts``) per class of rank 2 to
    ``n_target_classes + 1`` under the clean logits, each linearizing only that class's
    boundary (one backward pass per step) and only on samples without an adversarial within eps
    yet; any misclassification counts. With a ``target`` it is plain targeted FAB.

    Args:
        n_target_classes: How many target classes to sweep (at most ``K - 1``).
        **others: As for :class:`FAB`.

    Inputs are images ``(N, C, H, W)`` and labels ``(N,)``.

    Example:
        >>> import torch
        >>> from torch import nn
        >>> from brittle.models import Classifier
        >>> clf = Classifier(nn.Sequential(nn.Flatten(), nn.Linear(4, 4)), input_shape=(1, 2, 2))
        >>> x, y = torch.rand(8, 1, 2, 2), torch.zeros(8, dtype=torch.long)
        >>> FABT(eps=0.5, steps=20, n_target_classes=2)(clf, x, y).x_adv.shape
        torch.Size([8, 1, 2, 2])
    """

    name = "fab-t"

    def __init__(self, *, eps: float, norm: Norm = "linf", steps: int = 100, restarts: int = 1,
                 n_target_classes: int = 9, alpha_max: float = 0.1, eta: float = 1.05,
                 beta: float = 0.9, early_stop: bool = True, seed: int = 0) -> None:
        super().__init__(eps=eps, norm=norm, steps=steps, restarts=restarts,
                         alpha_max=alpha_max, eta=eta, beta=beta, early_stop=early_stop,
                         seed=seed)
        if n_target_classes < 1:
            raise BrittleError(f"n_target_classes must be >= 1, got {n_target_classes}")
        self.n_target_classes = int(n_target_classes)

    def _runs(self, ctx: AttackContext) -> Iterator[torch.Tensor | None]:
        if ctx.target is not None:
            yield from super()._runs(ctx)
            return
        count = min(self.n_target_classes, ctx.classifier.num_classes - 1)
        for target in ranked_targets(clean_logits(ctx), ctx.labels, count):
            for _ in range(self.restarts):
                yield target
