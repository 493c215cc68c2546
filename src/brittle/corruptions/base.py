"""The corruption base class, its per-image random numbers and the registry.

``Corruption.__call__`` is final: it validates the batch and the severity once, hands the
severity's parameters and a per-image random source to :meth:`Corruption.apply`, then clamps
the result to [0, 1] and checks its shape. Inputs are never mutated.

Randomness is keyed per image: image ``i`` of a call with ``start=s`` draws from a
``torch.Generator`` seeded by a hash of ``(seed, s + i)``, so corrupting a dataset in chunks
(with the right ``start``) gives the same images as one call, on any device.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping
from typing import Any, ClassVar, TypeVar, final

import torch

from brittle.errors import BrittleError
from brittle.registry import Registry

SUITE_CHANNELS: dict[str, int] = {"mnist-c": 1, "cifar10-c": 3}
PARAMS_VERSION: dict[str, str] = {"mnist-c": "mnist-c/1", "cifar10-c": "cifar10-c/1"}
MIN_SIZE = 8

_MASK64 = (1 << 64) - 1

Tables = Mapping[str, tuple[Mapping[str, Any], ...]]
"""Suite -> five parameter dicts (severity 1..5)."""


def image_seed(seed: int, index: int) -> int:
    """A 63-bit seed for image ``index`` under ``seed`` (splitmix64 of the pair)."""
    z = (seed * 0x9E3779B97F4A7C15 + index * 0xD1B54A32D192ED03 + 0x632BE59BD9B4E019) & _MASK64
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & _MASK64
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & _MASK64
    return (z ^ (z >> 31)) >> 1


class ImageRNG:
    """Independent random streams, one per image, drawn on the CPU and moved to ``device``.

    Each draw returns ``(N, *shape)``; the k-th draw of image ``i`` depends only on
    ``(seed, start + i, k)``, never on the batch it came in.

    Example:
        >>> rng = ImageRNG(seed=0, start=0, n=2, device=torch.device("cpu"))
        >>> rng.uniform(3).shape
        torch.Size([2, 3])
    """

    def __init__(self, seed: int, start: int, n: int, device: torch.device) -> None:
        self.device = device
        self.n = n
        self._seeds = [image_seed(seed, start + i) for i in range(n)]
        self._gens: list[torch.Generator] = []

    def _fill(self, draw: Callable[[torch.Generator, torch.Tensor, int], Any],
              shape: tuple[int, ...], dtype: torch.dtype = torch.float32) -> torch.Tensor:
        if not self._gens:  # created on first use: deterministic corruptions never pay
            self._gens = [torch.Generator().manual_seed(s) for s in self._seeds]
        out = torch.empty(self.n, *shape, dtype=dtype)
        for i, (g, row) in enumerate(zip(self._gens, out, strict=True)):
            draw(g, row, i)
        return out.to(self.device)

    def uniform(self, *shape: int, low: float = 0.0, high: float = 1.0) -> torch.Tensor:
        """Uniform floats in ``[low, high)``."""
        u = self._fill(lambda g, row, _: torch.rand(shape, generator=g, out=row), shape)
        return low + (high - low) * u

    def normal(self, *shape: int, mean: float = 0.0, std: float = 1.0) -> torch.Tensor:
        """Gaussian floats."""
        z = self._fill(lambda g, row, _: torch.randn(shape, generator=g, out=row), shape)
        return mean + std * z

    def integers(self, low: int, high: int, *shape: int) -> torch.Tensor:
        """Integers in ``[low, high)`` (int64), like ``np.random.randint``."""
        return self._fill(lambda g, row, _: torch.randint(low, high, shape, generator=g, out=row),
                          shape, torch.int64)

    def signs(self, *shape: int) -> torch.Tensor:
        """Random ``-1.0`` or ``+1.0``."""
        return self.integers(0, 2, *shape).float() * 2 - 1

    def poisson(self, rates: torch.Tensor) -> torch.Tensor:
        """Poisson counts with per-element ``rates`` ``(N, ...)`` (float, on ``rates``' device)."""
        cpu = rates.detach().float().cpu()
        out = self._fill(lambda g, row, i: row.copy_(torch.poisson(cpu[i], generator=g)),
                         tuple(cpu.shape[1:]))
        return out.to(rates)


class Corruption(ABC):
    """One corruption of one suite at five severities.

    Subclasses set ``name``, ``tables`` (suite -> five parameter dicts, severity 1..5) and
    ``random``, and write :meth:`apply`. Instances are bound to one suite.

    Attributes:
        name: snake_case corruption name.
        suite: ``"mnist-c"`` or ``"cifar10-c"``.
        severity_params: The suite's five parameter dicts.
    """

    name: ClassVar[str]
    tables: ClassVar[Tables]
    random: ClassVar[bool] = True

    def __init__(self, suite: str) -> None:
        if suite not in self.tables:
            raise BrittleError(f"{self.name} has no {suite!r} table; it has {sorted(self.tables)}")
        self.suite = suite
        self.severity_params: tuple[Mapping[str, Any], ...] = self.tables[suite]

    @abstractmethod
    def apply(self, x: torch.Tensor, param: Mapping[str, Any], rng: ImageRNG) -> torch.Tensor:
        """Corrupt ``x`` ``(N, C, H, W)`` in [0, 1] with one severity's ``param``."""

    @final
    def __call__(self, x: torch.Tensor, severity: int, *, seed: int = 0,
                 start: int = 0) -> torch.Tensor:
        """Corrupt ``x`` ``(N, C, H, W)`` at ``severity`` (1..5); same shape, dtype, device."""
        check_severity(severity)
        self._check_input(x)
        if x.shape[0] == 0:
            return x.clone()
        work = x.detach().to(torch.float64 if x.dtype == torch.float64 else torch.float32)
        rng = ImageRNG(int(seed), int(start), x.shape[0], x.device)
        out = self.apply(work.clone(), self.severity_params[severity - 1], rng)
        if out.shape != x.shape:
            raise RuntimeError(f"{self.suite}/{self.name} returned {tuple(out.shape)}, "
                               f"expected {tuple(x.shape)}")
        return out.clamp(0, 1).to(x.dtype)

    def _check_input(self, x: torch.Tensor) -> None:
        if not isinstance(x, torch.Tensor) or x.dim() != 4 or not x.is_floating_point():
            raise BrittleError("corruptions take float images (N, C, H, W); got "
                               + (f"{x.dtype} {tuple(x.shape)}" if isinstance(x, torch.Tensor)
                                  else type(x).__name__))
        want = SUITE_CHANNELS[self.suite]
        if x.shape[1] != want:
            raise BrittleError(f"{self.suite} corruptions take {want}-channel images; "
                               f"got {x.shape[1]} channels")
        if min(x.shape[-2:]) < MIN_SIZE:
            raise BrittleError(f"corruptions need images of at least {MIN_SIZE}x{MIN_SIZE}; "
                               f"got {x.shape[-2]}x{x.shape[-1]}")
        if x.numel():
            lo, hi = (float(v) for v in torch.aminmax(x))  # NaN propagates into both
            if not (math.isfinite(lo) and math.isfinite(hi)):
                raise BrittleError("images contain NaN or infinite values")
            if lo < 0 or hi > 1:
                raise BrittleError(f"images must lie in [0, 1]; got [{lo:.4g}, {hi:.4g}]")


def check_severity(severity: object) -> int:
    if isinstance(severity, bool) or not isinstance(severity, int) or not 1 <= severity <= 5:
        raise BrittleError(f"severity must be an integer from 1 to 5; got {severity!r}")
    return severity


CORRUPTIONS: Registry[Corruption] = Registry("corruption")
"""One entry per ``"suite/name"``, e.g. ``"mnist-c/shot_noise"``; each builds a bound
:class:`Corruption`."""

C = TypeVar("C", bound=type[Corruption])


def register(cls: C) -> C:
    """Class decorator: register ``cls`` once per suite in its ``tables``."""
    for suite, table in cls.tables.items():
        if len(table) != 5:
            raise ValueError(f"{cls.name}: the {suite} table needs 5 severities")

        def factory(cls: type[Corruption] = cls, suite: str = suite) -> Corruption:
            return cls(suite)

        factory.__doc__ = cls.__doc__
        CORRUPTIONS.register(f"{suite}/{cls.name}")(factory)
    return cls
