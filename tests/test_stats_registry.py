"""Wilson intervals and the registry contract."""

from __future__ import annotations

import math

import pytest
from scipy.stats import binomtest

from brittle._utils.stats import Rate, wilson_interval
from brittle.errors import BrittleError
from brittle.registry import Registry


@pytest.mark.parametrize(("k", "n"), [(0, 10), (3, 10), (10, 10), (512, 1000), (1, 3)])
def test_wilson_matches_scipy(k: int, n: int) -> None:
    ci = binomtest(k, n).proportion_ci(confidence_level=0.95, method="wilson")
    low, high = wilson_interval(k, n)
    assert low == pytest.approx(ci.low, abs=1e-9)
    assert high == pytest.approx(ci.high, abs=1e-9)


def test_rate_keeps_n_and_refuses_impossible_counts() -> None:
    rate = Rate.of(9, 10)
    assert (rate.k, rate.n, rate.value) == (9, 10, 0.9)
    assert rate.low < 0.9 < rate.high
    assert math.isnan(Rate.of(0, 0).value)
    with pytest.raises(ValueError):
        Rate.of(11, 10)


def test_registry_builds_lists_and_refuses_duplicates() -> None:
    reg: Registry[int] = Registry("thing")

    @reg.register("two")
    def two(*, plus: int = 0) -> int:
        """Two, plus something."""
        return 2 + plus

    assert reg.create("two", plus=1) == 3
    assert reg.names() == ["two"]
    assert reg.describe("two") == "Two, plus something."
    with pytest.raises(ValueError):
        reg.register("two")(two)
    with pytest.raises(BrittleError, match="unknown thing 'three'; known: two"):
        reg.create("three")


def test_wilson_interval_always_contains_the_rate_even_at_zero_and_n() -> None:
    for n in range(1, 60):
        for k in (0, n):
            r = Rate.of(k, n)
            assert r.low <= r.value <= r.high
    assert Rate.of(0, 12).low == 0.0 and Rate.of(12, 12).high == 1.0
