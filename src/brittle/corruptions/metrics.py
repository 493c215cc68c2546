"""Corruption error (CE) and mean CE of Hendrycks & Dietterich (2019)."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

from brittle.errors import BrittleError


def _errors(name: str, values: Sequence[float], what: str) -> list[float]:
    out = [float(v) for v in values]
    if not out or any(not math.isfinite(v) or not 0 <= v <= 1 for v in out):
        raise BrittleError(f"{what} errors for {name!r} must be rates in [0, 1]; got {values!r}")
    return out


def corruption_error(errors: Mapping[str, Sequence[float]],
                     reference: Mapping[str, Sequence[float]], *,
                     clean_error: float | None = None,
                     reference_clean_error: float | None = None) -> dict[str, Any]:
    """CE, mCE and (given clean errors) relative CE, after Hendrycks & Dietterich (2019).

    ``CE_c = sum_s E_{s,c} / sum_s E^ref_{s,c}`` over severities ``s``; ``mCE`` is the mean
    over corruptions. Relative CE subtracts the clean errors first:
    ``sum_s (E_{s,c} - E_clean) / sum_s (E^ref_{s,c} - E^ref_clean)``.

    Args:
        errors: Corruption name -> error rate per severity (usually 5 values) for the model.
        reference: The same for the reference model (AlexNet in the paper); must cover every
            corruption in ``errors`` with as many severities.
        clean_error: The model's clean error; with ``reference_clean_error`` enables
            relative CE.
        reference_clean_error: The reference model's clean error.

    Returns:
        ``{"ce": {name: float}, "mce": float}`` plus ``"relative_ce"`` and ``"relative_mce"``
        when both clean errors are given. A CE whose reference denominator is 0 is ``nan``.

    Example:
        >>> out = corruption_error({"fog": [0.1, 0.2]}, {"fog": [0.2, 0.4]})
        >>> out["ce"]["fog"], out["mce"]
        (0.5, 0.5)
    """
    if not errors:
        raise BrittleError("corruption_error needs errors for at least one corruption")
    if (clean_error is None) != (reference_clean_error is None):
        raise BrittleError("give both clean_error and reference_clean_error, or neither")
    ce: dict[str, float] = {}
    rel: dict[str, float] = {}
    for name, values in errors.items():
        if name not in reference:
            raise BrittleError(f"no reference errors for corruption {name!r}")
        e, r = _errors(name, values, "model"), _errors(name, reference[name], "reference")
        if len(e) != len(r):
            raise BrittleError(f"{name!r}: {len(e)} severities but {len(r)} in the reference")
        ce[name] = _ratio(sum(e), sum(r))
        if clean_error is not None and reference_clean_error is not None:
            rel[name] = _ratio(sum(v - clean_error for v in e),
                               sum(v - reference_clean_error for v in r))
    out: dict[str, Any] = {"ce": ce, "mce": sum(ce.values()) / len(ce)}
    if rel:
        out["relative_ce"] = rel
        out["relative_mce"] = sum(rel.values()) / len(rel)
    return out


def _ratio(num: float, den: float) -> float:
    return num / den if den != 0 else math.nan
