"""Temperature scaling (Guo et al. 2017, "On Calibration of Modern Neural Networks").

One scalar ``T > 0`` divides every logit; it is fitted by minimising the NLL of held-out logits.
Dividing by a positive scalar never changes an argmax, so accuracy is untouched.

The search is a deterministic golden-section search on ``u = log T`` over ``[-ln 1000, ln 1000]``.
It finds the global minimum because the NLL is convex in ``1/T`` (a log-sum-exp of functions
linear in ``1/T`` minus a linear term), hence unimodal in ``log T``. Exact ties between the two
probes (a flat NLL, e.g. constant logits, or a plateau where the NLL has underflowed to 0) keep
the side nearer ``T = 1``, so constant logits give ``T = 1``. When every held-out sample is
classified correctly the NLL keeps falling as ``T -> 0`` and has no finite minimum; that case,
and a minimum at the edge of the range, log a warning.
"""

from __future__ import annotations

import logging
import math
from typing import Any

import torch

from brittle.calibration import functional as CF
from brittle.errors import BrittleError

logger = logging.getLogger(__name__)

LOG_T_RANGE = math.log(1000.0)
_INV_PHI = (math.sqrt(5.0) - 1.0) / 2.0
_TOLERANCE = 1e-10  # width of the final log T bracket


def _check_max_iter(max_iter: Any) -> int:
    if isinstance(max_iter, bool) or not isinstance(max_iter, int) or max_iter < 1:
        raise BrittleError(f"max_iter must be an integer >= 1, got {max_iter!r}")
    return max_iter


def fit_temperature(logits: torch.Tensor, labels: torch.Tensor, *, max_iter: int = 100) -> float:
    """The temperature ``T`` minimising the mean NLL of ``logits / T`` (Guo et al. 2017).

    Args:
        logits: Held-out logits ``(N, K)`` (not the ones the model was trained on).
        labels: True classes ``(N,)`` int64.
        max_iter: Golden-section iterations; each shrinks the ``log T`` bracket by 0.618, and
            about 55 already reach the 1e-10 tolerance, where the search stops.

    Returns:
        ``T`` in ``[1e-3, 1e3]``; ``T > 1`` softens an over-confident model, ``T < 1`` sharpens
        an under-confident one.

    Example:
        >>> z = torch.tensor([[4.0, 0.0], [0.0, 4.0], [4.0, 0.0]])
        >>> fit_temperature(z, torch.tensor([0, 1, 1])) > 1
        True
    """
    z, y = CF.check_inputs(logits, labels)
    max_iter = _check_max_iter(max_iter)

    def loss(u: float) -> float:
        return float(CF.nll_terms(z * math.exp(-u), y).mean())

    lo, hi = -LOG_T_RANGE, LOG_T_RANGE
    a, b = hi - _INV_PHI * (hi - lo), lo + _INV_PHI * (hi - lo)
    fa, fb = loss(a), loss(b)
    for _ in range(max_iter):
        if hi - lo < _TOLERANCE:
            break
        # keep [lo, b] when it holds the minimum; on exact ties keep the side nearer u = 0 (T = 1)
        if fa < fb or (fa == fb and lo + hi >= 0):
            hi, b, fb = b, a, fa
            a = hi - _INV_PHI * (hi - lo)
            fa = loss(a)
        else:
            lo, a, fa = a, b, fb
            b = lo + _INV_PHI * (hi - lo)
            fb = loss(b)
    u = (lo + hi) / 2
    if bool((z.argmax(1) == y).all()):
        logger.warning("temperature scaling: every held-out sample is classified correctly, so "
                       "the NLL has no finite minimum and T = %.3g is arbitrary", math.exp(u))
    elif abs(u) > LOG_T_RANGE - 1e-3:
        logger.warning("temperature scaling hit the edge of its range (T = %.3g)", math.exp(u))
    return math.exp(u)


class TemperatureScaler:
    """Divide logits by a temperature fitted on held-out logits (Guo et al. 2017).

    Args:
        temperature: A known temperature; leave ``None`` and call :meth:`fit` to learn it.
        max_iter: Passed to :func:`fit_temperature`.

    Example:
        >>> z, y = torch.tensor([[4.0, 0.0], [0.0, 4.0], [4.0, 0.0]]), torch.tensor([0, 1, 1])
        >>> scaler = TemperatureScaler().fit(z, y)
        >>> torch.equal(scaler(z).argmax(1), z.argmax(1))
        True
    """

    def __init__(self, temperature: float | None = None, *, max_iter: int = 100) -> None:
        if temperature is not None and not (math.isfinite(temperature) and temperature > 0):
            raise BrittleError(f"temperature must be finite and > 0, got {temperature!r}")
        self._temperature = None if temperature is None else float(temperature)
        self.max_iter = _check_max_iter(max_iter)

    @property
    def temperature(self) -> float:
        """The fitted (or given) temperature ``T > 0``."""
        if self._temperature is None:
            raise BrittleError("TemperatureScaler has no temperature yet; call fit() first")
        return self._temperature

    def fit(self, logits: torch.Tensor, labels: torch.Tensor) -> TemperatureScaler:
        """Fit ``T`` on held-out logits ``(N, K)`` and labels ``(N,)``; returns ``self``."""
        self._temperature = fit_temperature(logits, labels, max_iter=self.max_iter)
        return self

    def __call__(self, logits: torch.Tensor) -> torch.Tensor:
        """``logits / T`` with the shape, dtype and device of ``logits``."""
        return logits / self.temperature

    def __repr__(self) -> str:
        return f"TemperatureScaler(temperature={self._temperature!r})"


def split_fit_eval(n: int, *, fraction: float = 0.5,
                   seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Split ``range(n)`` at random into a fit part and an evaluation part (not stratified).

    Args:
        n: Number of samples (at least 2).
        fraction: Share of the samples in the fit part, rounded, both parts non-empty.
        seed: Seed of the permutation; the same seed gives the same split.

    Returns:
        ``(fit_idx, eval_idx)``: disjoint sorted int64 index tensors covering ``range(n)``.

    Example:
        >>> fit_idx, eval_idx = split_fit_eval(10, seed=0)
        >>> len(fit_idx), len(eval_idx)
        (5, 5)
    """
    if isinstance(n, bool) or not isinstance(n, int) or n < 2:
        raise BrittleError(f"n must be an integer >= 2 to split, got {n!r}")
    if not 0.0 < fraction < 1.0:
        raise BrittleError(f"fraction must lie strictly between 0 and 1, got {fraction!r}")
    n_fit = min(max(round(fraction * n), 1), n - 1)
    order = torch.randperm(n, generator=torch.Generator().manual_seed(seed))
    return order[:n_fit].sort().values, order[n_fit:].sort().values
