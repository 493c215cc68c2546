"""Synthetic far-OOD images: noise and flat images that no natural dataset looks like."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import torch

from brittle.errors import DataError

SyntheticKind = Literal["uniform", "gaussian", "constant"]
KINDS: tuple[SyntheticKind, ...] = ("uniform", "gaussian", "constant")
GAUSSIAN_MEAN, GAUSSIAN_STD = 0.5, 0.25


def synthetic(kind: SyntheticKind, n: int, shape: Sequence[int], *, seed: int) -> torch.Tensor:
    """``n`` far-OOD images of ``shape`` ``(C, H, W)`` in [0, 1], reproducible from ``seed``.

    - ``"uniform"``: every pixel independent, uniform on [0, 1].
    - ``"gaussian"``: every pixel independent, normal with mean 0.5 and standard deviation
      0.25, clamped to [0, 1] (about 2.3% of the pixels land on each bound).
    - ``"constant"``: one uniform value per image, the same in every pixel and channel (flat
      grey images of random brightness).

    Args:
        kind: One of ``"uniform"``, ``"gaussian"``, ``"constant"``.
        n: Number of images.
        shape: ``(C, H, W)`` of one image.
        seed: Seed of a private generator (the global random state is untouched).

    Returns:
        Float32 images ``(n, C, H, W)``.

    Example:
        >>> x = synthetic("constant", 2, (1, 4, 4), seed=0)
        >>> x.shape, bool((x[0] == x[0, 0, 0, 0]).all())
        (torch.Size([2, 1, 4, 4]), True)
    """
    if len(shape) != 3 or any(int(s) < 1 for s in shape):
        raise DataError(f"shape must be (C, H, W) of positive sizes, got {tuple(shape)}")
    if n < 0:
        raise DataError(f"n must be non-negative, got {n}")
    size = (n, *(int(s) for s in shape))
    gen = torch.Generator().manual_seed(seed)
    if kind == "uniform":
        return torch.rand(size, generator=gen)
    if kind == "gaussian":
        return (GAUSSIAN_MEAN + GAUSSIAN_STD * torch.randn(size, generator=gen)).clamp(0.0, 1.0)
    if kind == "constant":
        return torch.rand(n, 1, 1, 1, generator=gen).expand(size).contiguous()
    raise DataError(f"unknown synthetic OOD kind {kind!r}; known: {', '.join(KINDS)}")
