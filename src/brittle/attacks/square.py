"""Square Attack (Andriushchenko, Croce, Flammarion & Hein 2020, "Square Attack: a
query-efficient black-box adversarial attack via random search", ECCV).

A score-based attack: it never uses gradients, only the model's logits. One query per
iteration, it proposes a change of the perturbation inside a random square window and keeps it
only if the margin loss improves. The window covers a fraction ``p`` of the image that shrinks
on the paper's schedule (halved at iterations 10, 50, 200, 500, 1000, 2000, 4000, 6000 and 8000
of a 10000-query budget, rescaled to the actual budget). Only samples still robust are queried.

Linf starts from vertical stripes of ``+-eps`` and overwrites the window with ``+-eps`` (one
random sign per channel). L2 starts from a grid of signed "pseudo-Gaussian" bumps scaled to
norm eps; each proposal moves the perturbation mass of a second random window (and any unused
budget) into the first one, as a new signed bump plus the old content, so the norm stays eps.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields, replace

import torch

from brittle.attacks.base import Attack, AttackContext
from brittle.attacks.functional import Norm, attack_loss, is_adversarial
from brittle.attacks.registry import ATTACKS
from brittle.attacks.sweep import clean_logits
from brittle.errors import BrittleError

_HALVINGS = (10, 50, 200, 500, 1000, 2000, 4000, 6000, 8000)  # on a 10000-query scale


def window_fraction(p_init: float, iteration: int, n_queries: int) -> float:
    """The fraction ``p`` of pixels the square covers at ``iteration`` of ``n_queries``.

    Example:
        >>> [window_fraction(0.8, i, 10000) for i in (1, 11, 51, 9000)]
        [0.8, 0.4, 0.2, 0.0015625]
    """
    scaled = int(iteration / n_queries * 10000)
    return p_init / 2 ** sum(scaled > t for t in _HALVINGS)


def pseudo_gaussian(side: int) -> torch.Tensor:
    """The L2 update pattern ``(side, side)``: a bump on the top half and a negative one on the
    bottom half, each made of concentric rectangles weighted ``1 / (k + 1)^2``; unit L2 norm.

    Example:
        >>> bump = pseudo_gaussian(5)
        >>> bump.shape, round(float(bump.norm()), 4), bool(bump[:2].min() > 0 > bump[2:].max())
        (torch.Size([5, 5]), 1.0, True)
    """
    top, bottom = _rings(side // 2, side), _rings(side - side // 2, side)
    bump = torch.cat([top, -bottom])
    return bump / bump.norm()


def _rings(rows: int, cols: int) -> torch.Tensor:
    """Concentric rectangles around the centre: ring ``k`` and all inside it gain 1/(k+1)^2."""
    if rows == 0:
        return torch.zeros(0, cols)
    dist = torch.maximum((torch.arange(rows) - rows // 2).abs()[:, None],
                         (torch.arange(cols) - cols // 2).abs()[None, :])
    rings = max(rows // 2, cols // 2) + 1
    weights = 1.0 / torch.arange(1, rings + 1, dtype=torch.float32) ** 2
    tail = weights.flip(0).cumsum(0).flip(0)  # tail[d] = sum of weights of rings d and beyond
    bump = tail[dist]
    return bump / bump.norm()


@dataclass(frozen=True)
class _Window:
    """One ``side x side`` square per sample, at top-left corners ``rows``, ``cols`` ``(N,)``."""

    rows: torch.Tensor
    cols: torch.Tensor
    side: int

    def mask(self, h: int, w: int) -> torch.Tensor:
        """``(N, 1, H, W)`` bool, true inside the window."""
        r, q = torch.arange(h, device=self.rows.device), torch.arange(w, device=self.rows.device)
        in_rows = (r[None] >= self.rows[:, None]) & (r[None] < self.rows[:, None] + self.side)
        in_cols = (q[None] >= self.cols[:, None]) & (q[None] < self.cols[:, None] + self.side)
        return (in_rows[:, :, None] & in_cols[:, None, :])[:, None]

    def _index(self) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        offsets = torch.arange(self.side, device=self.rows.device)
        batch = torch.arange(len(self.rows), device=self.rows.device)[:, None, None]
        return (batch, (self.rows[:, None] + offsets)[:, :, None],
                (self.cols[:, None] + offsets)[:, None, :])

    def take(self, x: torch.Tensor) -> torch.Tensor:
        """The window's content ``(N, C, side, side)`` of ``x`` ``(N, C, H, W)``."""
        batch, rows, cols = self._index()
        return x.permute(0, 2, 3, 1)[batch, rows, cols].permute(0, 3, 1, 2)

    def put(self, x: torch.Tensor, values: torch.Tensor) -> torch.Tensor:
        """A copy of ``x`` with the window replaced by ``values`` ``(N, C, side, side)``."""
        batch, rows, cols = self._index()
        out = x.permute(0, 2, 3, 1).clone()
        out[batch, rows, cols] = values.permute(0, 2, 3, 1)
        return out.permute(0, 3, 1, 2).contiguous()


@dataclass
class _State:
    """Per-sample state of one Square run, compacted together."""

    idx: torch.Tensor
    x0: torch.Tensor
    y: torch.Tensor
    goal: torch.Tensor | None
    x: torch.Tensor
    score: torch.Tensor  # margin loss to maximize; > 0 once adversarial
    adv: torch.Tensor

    def keep(self, mask: torch.Tensor) -> _State:
        return replace(self, **{f.name: v[mask] for f in fields(self)
                                if (v := getattr(self, f.name)) is not None})


@ATTACKS.register("square")
class Square(Attack):
    """Square Attack (Andriushchenko et al. 2020, ECCV): random search on the margin loss.

    Args:
        eps: Perturbation budget in pixel scale.
        norm: ``linf`` or ``l2``.
        n_queries: Query budget per sample and restart, the initial query included.
        p_init: Initial fraction of the image a square covers.
        restarts: Runs from fresh random stripes; each sees only the samples still robust.
        early_stop: Stop querying a sample once it is adversarial.
        seed: Seeds the stripes, windows and signs.

    Inputs are images ``(N, C, H, W)`` and labels ``(N,)``; a ``target`` maximizes the target's
    margin instead. ``AttackResult.queries`` holds the queries spent per sample (0 for samples
    misclassified already) and ``success_step`` the query that succeeded.

    Example:
        >>> import torch
        >>> from torch import nn
        >>> from brittle.models import Classifier
        >>> clf = Classifier(nn.Sequential(nn.Flatten(), nn.Linear(16, 3)), input_shape=(1, 4, 4))
        >>> x, y = torch.rand(8, 1, 4, 4), torch.zeros(8, dtype=torch.long)
        >>> result = Square(eps=0.1, n_queries=50)(clf, x, y)
        >>> bool(result.queries.max() <= 50)
        True
    """

    name = "square"
    norms: tuple[Norm, ...] = ("linf", "l2")

    def __init__(self, *, eps: float, norm: Norm = "linf", n_queries: int = 5000,
                 p_init: float = 0.8, restarts: int = 1, early_stop: bool = True,
                 seed: int = 0) -> None:
        super().__init__(eps=eps, norm=norm, early_stop=early_stop, seed=seed)
        if n_queries < 1 or restarts < 1:
            raise BrittleError(f"n_queries and restarts must be >= 1, got {n_queries} and "
                               f"{restarts}")
        if not 0 < p_init <= 1:
            raise BrittleError(f"p_init must lie in (0, 1], got {p_init}")
        self.n_queries = int(n_queries)
        self.p_init = float(p_init)
        self.restarts = int(restarts)

    def _search(self, ctx: AttackContext) -> tuple[torch.Tensor, torch.Tensor]:
        n, dev = len(ctx.x), ctx.x.device
        out = ctx.x.clone()
        out_score = torch.full((n,), float("-inf"), device=dev)
        first = torch.full((n,), -1, dtype=torch.int64, device=dev)
        used = torch.zeros(n, dtype=torch.int64, device=dev)
        already = is_adversarial(clean_logits(ctx), ctx.labels, ctx.target)
        first[already] = 0
        for _ in range(self.restarts):
            idx = torch.nonzero(first < 0 if self.early_stop else ~already).flatten()
            if idx.numel() == 0:
                break
            self._run(ctx, idx, out, out_score, first, used)
        ctx.info["queries"] = used
        return out, first

    def _queries(self, ctx: AttackContext) -> torch.Tensor | None:
        return ctx.info.pop("queries", None)

    def _run(self, ctx: AttackContext, idx: torch.Tensor, out: torch.Tensor,
             out_score: torch.Tensor, first: torch.Tensor, used: torch.Tensor) -> None:
        x0 = ctx.x[idx]
        goal = ctx.target[idx] if ctx.target is not None else None
        x = self._stripes(ctx, x0, idx) if self.norm == "linf" else self._bumps(ctx, x0, idx)
        score, adv = self._query(ctx, x, ctx.labels[idx], goal, used, idx)
        s = _State(idx=idx, x0=x0, y=ctx.labels[idx], goal=goal, x=x, score=score, adv=adv)
        self._record(s, s.adv, out, first, used)
        for i in range(1, self.n_queries):
            if self.early_stop:
                s = s.keep(~s.adv)
                if s.idx.numel() == 0:
                    return
            side = self._side(i - 1, x0.shape[-2], x0.shape[-1])  # proposals count from 0
            proposal = (self._propose(ctx, s, side) if self.norm == "linf"
                        else self._propose_l2(ctx, s, side))
            score, adv = self._query(ctx, proposal, s.y, s.goal, used, s.idx)
            better = score > s.score
            s.x = torch.where(better.view(-1, 1, 1, 1), proposal, s.x)
            s.score = torch.where(better, score, s.score)
            newly = better & adv & ~s.adv
            s.adv = s.adv | newly
            self._record(s, newly, out, first, used)
        better = ~s.adv & (s.score > out_score[s.idx])
        out[s.idx[better]], out_score[s.idx[better]] = s.x[better], s.score[better]

    def _query(self, ctx: AttackContext, x: torch.Tensor, y: torch.Tensor,
               goal: torch.Tensor | None, used: torch.Tensor,
               idx: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """One model query per sample: the margin score ``(N,)`` and the adversarial mask."""
        with torch.no_grad():
            logits = ctx.logits(x)
        used[idx] += 1
        return attack_loss(logits, y, goal, "margin"), is_adversarial(logits, y, goal)

    @staticmethod
    def _record(s: _State, newly: torch.Tensor, out: torch.Tensor, first: torch.Tensor,
                used: torch.Tensor) -> None:
        where = s.idx[newly]
        out[where], first[where] = s.x[newly], used[where]

    def _side(self, iteration: int, height: int, width: int) -> int:
        """Side length of the square for this iteration, below ``min(H, W)``; for L2 odd and at
        least 3 so that the bump has a centre."""
        p = window_fraction(self.p_init, iteration, self.n_queries)
        side = round(math.sqrt(p * height * width))
        if self.norm == "l2":
            side = max(side, 3) + (1 - max(side, 3) % 2)
        return max(1, min(side, min(height, width) - 1))

    def _stripes(self, ctx: AttackContext, x0: torch.Tensor, idx: torch.Tensor) -> torch.Tensor:
        """Vertical stripes of ``+-eps``, one random sign per channel and column."""
        _, c, _, w = x0.shape
        signs = self._signs(ctx, idx, (c, 1, w))
        return (x0 + self.eps * signs).clamp(*ctx.bounds)

    def _propose(self, ctx: AttackContext, s: _State, side: int) -> torch.Tensor:
        """Overwrite a random ``side x side`` window per sample with ``x0 +- eps`` per channel.

        Signs are redrawn (a few times) where the window would not change after clipping, so
        that queries are not wasted on identical images.
        """
        n, c, h, w = s.x.shape
        window = self._window(ctx, s.idx, side, h, w).mask(h, w)
        proposal = s.x
        redo = torch.ones(n, dtype=torch.bool, device=s.x.device)
        # all ten tries drawn at once: how many are used must not shift later draws
        tries = self._signs(ctx, s.idx, (10, c, 1, 1))
        for signs in tries.unbind(1):
            fresh = torch.where(window, (s.x0 + self.eps * signs).clamp(*ctx.bounds), s.x)
            proposal = torch.where(redo.view(-1, 1, 1, 1), fresh, proposal)
            redo = ~(proposal != s.x).flatten(1).any(dim=1)
            if not redo.any():
                break
        return proposal

    def _bumps(self, ctx: AttackContext, x0: torch.Tensor, idx: torch.Tensor) -> torch.Tensor:
        """L2 start: a grid of bumps of side ``H // 5``, each with a random sign per channel and
        a random orientation, scaled to norm eps."""
        _, c, h, w = x0.shape
        side = max(h // 5, 1)
        bump = pseudo_gaussian(side).to(device=x0.device, dtype=x0.dtype)
        delta = torch.zeros_like(x0)
        top, left = (h - side * (h // side)) // 2, (w - side * (w // side)) // 2
        for r in range(top, h - side + 1, side):
            for q in range(left, w - side + 1, side):
                flip = self._signs(ctx, idx, (1, 1, 1)) > 0
                signs = self._signs(ctx, idx, (c, 1, 1))
                delta[:, :, r:r + side, q:q + side] = torch.where(flip, bump.T, bump) * signs
        return (x0 + self._scaled(delta)).clamp(*ctx.bounds)

    def _propose_l2(self, ctx: AttackContext, s: _State, side: int) -> torch.Tensor:
        """Move the mass of window 2 and the unused budget into window 1, as a fresh signed bump
        plus window 1's old content (both at unit norm per channel); then rescale to eps."""
        _, c, h, w = s.x.shape
        delta = s.x - s.x0
        win1, win2 = self._window(ctx, s.idx, side, h, w), self._window(ctx, s.idx, side, h, w)
        old = win1.take(delta)  # (N, C, side, side)
        per_channel = old.flatten(2).norm(dim=2)[..., None, None]
        union = delta * (win1.mask(h, w) | win2.mask(h, w))
        freed = union.flatten(2).norm(dim=2)[..., None, None] ** 2
        spare = (self.eps ** 2 - delta.flatten(1).norm(dim=1) ** 2).clamp_min(0) / c
        budget = (freed + spare.view(-1, 1, 1, 1)).sqrt()
        bump = pseudo_gaussian(side).to(device=s.x.device, dtype=s.x.dtype)
        flip = self._signs(ctx, s.idx, (1, 1, 1)) > 0  # transpose half of the bumps
        fresh = torch.where(flip, bump.T, bump) * self._signs(ctx, s.idx, (c, 1, 1))
        fresh = fresh + old / per_channel.clamp_min(1e-12)
        fresh = fresh / fresh.flatten(2).norm(dim=2)[..., None, None].clamp_min(1e-12) * budget
        delta = win1.put(delta * ~win2.mask(h, w), fresh)
        return (s.x0 + self._scaled(delta)).clamp(*ctx.bounds)

    def _scaled(self, delta: torch.Tensor) -> torch.Tensor:
        size = delta.flatten(1).norm(dim=1).clamp_min(1e-12).view(-1, 1, 1, 1)
        return delta * (self.eps / size)

    def _window(self, ctx: AttackContext, idx: torch.Tensor, side: int, h: int,
                w: int) -> _Window:
        """A random ``side x side`` window in ``h x w`` per sample of ``idx``.

        As in the authors' code, corners stop one short of the last position: windows never
        reach the last row and column (on centred data such as MNIST this wastes less budget
        on the border and measurably lowers robust accuracy at small query budgets).
        """
        return _Window(ctx.integers(h - side, idx), ctx.integers(w - side, idx), side)

    @staticmethod
    def _signs(ctx: AttackContext, idx: torch.Tensor, shape: tuple[int, ...]) -> torch.Tensor:
        """Random signs of shape ``(len(idx), *shape)``."""
        return (2 * ctx.integers(2, idx, shape) - 1).to(ctx.x.dtype)
