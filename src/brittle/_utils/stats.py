"""Rates with their sample size and a 95% Wilson score interval."""

from __future__ import annotations

import math
from dataclasses import dataclass

Z95 = 1.959963984540054


@dataclass(frozen=True)
class Rate:
    """``k`` successes out of ``n`` with a Wilson score interval at ``confidence``.

    Example:
        >>> r = Rate.of(90, 100)
        >>> round(r.value, 2), round(r.low, 3), round(r.high, 3)
        (0.9, 0.826, 0.945)
    """

    k: int
    n: int
    value: float
    low: float
    high: float
    confidence: float = 0.95

    @classmethod
    def of(cls, k: int, n: int) -> Rate:
        """The rate ``k / n`` with its 95% Wilson interval; ``n == 0`` gives NaNs."""
        k, n = int(k), int(n)
        if not 0 <= k <= n:
            raise ValueError(f"need 0 <= k <= n, got k={k}, n={n}")
        if n == 0:
            return cls(k, n, math.nan, math.nan, math.nan)
        low, high = wilson_interval(k, n)
        return cls(k, n, k / n, low, high)

    def to_dict(self) -> dict[str, float | int]:
        return {"k": self.k, "n": self.n, "value": self.value, "low": self.low,
                "high": self.high, "confidence": self.confidence}

    def __str__(self) -> str:
        if self.n == 0:
            return "n/a (n=0)"
        return f"{100 * self.value:.2f}% [{100 * self.low:.1f}, {100 * self.high:.1f}] (n={self.n})"


def wilson_interval(k: int, n: int, z: float = Z95) -> tuple[float, float]:
    """Wilson score interval for a binomial proportion (Wilson 1927).

    Unlike the normal approximation it stays inside [0, 1] and behaves at k = 0 or k = n.
    """
    p = k / n
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    # rounding can put a bound a hair past p at k = 0 or k = n; the interval always holds p
    return max(0.0, min(p, centre - half)), min(1.0, max(p, centre + half))
