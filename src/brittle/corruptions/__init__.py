"""Common corruptions: MNIST-C for grey images and CIFAR-10-C (plus its 4 extras) for RGB.

Every corruption runs batched in torch on the input's device (JPEG goes through Pillow per
image), at severities 1..5, deterministically for a ``seed``; per-image randomness is keyed by
the image's index, so chunked calls with the right ``start`` equal one call. Parameter tables
come from Mu & Gilmer (2019) and Hendrycks & Dietterich (2019) and are versioned per suite in
``PARAMS_VERSION``; ``docs/corruptions.md`` lists every deviation from the references.

Example:
    >>> import torch
    >>> from brittle import corruptions
    >>> x = torch.rand(4, 1, 28, 28)
    >>> suite = corruptions.suite_for(x.shape)
    >>> y = corruptions.corrupt(x, "zigzag", 3, seed=0)
    >>> suite, y.shape
    ('mnist-c', torch.Size([4, 1, 28, 28]))
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch

# Corruption modules register themselves on import; one line per module.
from brittle.corruptions import blur as _blur  # noqa: F401
from brittle.corruptions import digital as _digital  # noqa: F401
from brittle.corruptions import geometric as _geometric  # noqa: F401
from brittle.corruptions import noise as _noise  # noqa: F401
from brittle.corruptions import strokes as _strokes  # noqa: F401
from brittle.corruptions import weather as _weather  # noqa: F401
from brittle.corruptions.base import (
    CORRUPTIONS,
    PARAMS_VERSION,
    SUITE_CHANNELS,
    Corruption,
    ImageRNG,
    check_severity,
)
from brittle.corruptions.metrics import corruption_error
from brittle.errors import BrittleError

SUITES: dict[str, tuple[str, ...]] = {
    "mnist-c": ("shot_noise", "impulse_noise", "glass_blur", "motion_blur", "shear", "scale",
                "rotate", "brightness", "translate", "stripe", "fog", "spatter", "dotted_line",
                "zigzag", "canny_edges"),
    "cifar10-c": ("gaussian_noise", "shot_noise", "impulse_noise", "defocus_blur", "glass_blur",
                  "motion_blur", "zoom_blur", "snow", "frost", "fog", "brightness", "contrast",
                  "elastic_transform", "pixelate", "jpeg_compression", "speckle_noise",
                  "gaussian_blur", "spatter", "saturate"),
}
"""Suite -> its corruption names, in the order of the papers."""

SOURCES: dict[str, str] = {
    "mnist-c": "Mu & Gilmer (2019), MNIST-C: A Robustness Benchmark for Computer Vision, "
               "arXiv:1906.02337; github.com/google-research/mnist-c corruptions.py",
    "cifar10-c": "Hendrycks & Dietterich (2019), Benchmarking Neural Network Robustness to "
                 "Common Corruptions and Perturbations, ICLR; github.com/hendrycks/robustness "
                 "ImageNet-C/create_c/make_cifar_c.py",
}

PUBLISHED_SEVERITY: dict[str, int] = {
    "shot_noise": 5, "impulse_noise": 4, "glass_blur": 1, "motion_blur": 1, "shear": 2,
    "scale": 3, "rotate": 2, "brightness": 5, "translate": 3, "stripe": 3, "fog": 5,
    "spatter": 4, "dotted_line": 1, "zigzag": 1, "canny_edges": 5,
}
"""MNIST-C ships one level per corruption: the severity of ours that reproduces it (the
default severity of its reference code, or our extension's published level)."""


def suite_for(input_shape: Sequence[int]) -> str:
    """``"mnist-c"`` for 1-channel and ``"cifar10-c"`` for 3-channel ``(C, H, W)`` shapes.

    A 4-D ``(N, C, H, W)`` shape is accepted too.

    Example:
        >>> suite_for((3, 32, 32))
        'cifar10-c'
    """
    shape = tuple(int(s) for s in input_shape)
    if len(shape) not in (3, 4):
        raise BrittleError(f"expected an image shape (C, H, W); got {shape}")
    for suite, channels in SUITE_CHANNELS.items():
        if shape[-3] == channels:
            return suite
    raise BrittleError(f"no corruption suite for {shape[-3]}-channel images; "
                       "mnist-c takes 1 channel, cifar10-c takes 3")


def get(name: str, suite: str) -> Corruption:
    """The corruption ``name`` of ``suite``, or a one-line error listing the choices."""
    if suite not in SUITES:
        raise BrittleError(f"unknown corruption suite {suite!r}; known: {', '.join(SUITES)}")
    if name not in SUITES[suite]:
        raise BrittleError(f"unknown {suite} corruption {name!r}; known: "
                           f"{', '.join(SUITES[suite])}")
    return CORRUPTIONS.create(f"{suite}/{name}")


def corrupt(x: torch.Tensor, name: str, severity: int, *, suite: str | None = None,
            seed: int = 0, start: int = 0) -> torch.Tensor:
    """Corrupt images ``x`` ``(N, C, H, W)`` in [0, 1] with ``name`` at ``severity`` 1..5.

    Args:
        x: Float images in [0, 1]; never modified.
        name: A corruption of the suite (see :data:`SUITES`).
        severity: 1 (mild) to 5 (severe).
        suite: ``"mnist-c"`` or ``"cifar10-c"``; by default from the channel count.
        seed: Seed of the per-image random streams.
        start: Dataset index of ``x[0]``; randomness is keyed by ``(seed, start + i)``, so
            corrupting in chunks with the matching ``start`` equals one call.

    Returns:
        Corrupted images, same shape, dtype and device, values in [0, 1].

    Example:
        >>> x = torch.rand(2, 3, 32, 32)
        >>> corrupt(x, "fog", 2, seed=1).shape
        torch.Size([2, 3, 32, 32])
    """
    check_severity(severity)
    if not isinstance(x, torch.Tensor):
        raise BrittleError(f"corrupt takes a tensor (N, C, H, W); got {type(x).__name__}")
    if x.dim() != 4:
        raise BrittleError(f"corrupt takes images (N, C, H, W); got shape {tuple(x.shape)}")
    suite = suite if suite is not None else suite_for(x.shape)
    return get(name, suite)(x, severity, seed=seed, start=start)


def _resolve_suite(name: str, suite: str | None) -> str:
    if suite is not None:
        return suite
    owners = [s for s, names in SUITES.items() if name in names]
    if len(owners) != 1:
        raise BrittleError(f"corruption {name!r} is in suites {owners or 'none'}; pass suite=")
    return owners[0]


def params(name: str, suite: str | None = None) -> dict[str, Any]:
    """The parameter table of ``name`` in ``suite`` (inferred when only one suite has it).

    Returns:
        ``{"name", "suite", "version", "source", "severities": {1: {...}, ..., 5: {...}},
        "random", "published_severity"}``; ``published_severity`` is MNIST-C's single level
        (``None`` for CIFAR-10-C, which publishes all five).

    Example:
        >>> params("shot_noise", "cifar10-c")["severities"][1]
        {'photons': 500}
    """
    suite = _resolve_suite(name, suite)
    c = get(name, suite)
    return {
        "name": name, "suite": suite, "version": PARAMS_VERSION[suite],
        "source": SOURCES[suite],
        "severities": {i + 1: dict(p) for i, p in enumerate(c.severity_params)},
        "random": c.random,
        "published_severity": PUBLISHED_SEVERITY[name] if suite == "mnist-c" else None,
    }


def describe(name: str, suite: str | None = None) -> str:
    """One line on what ``name`` does.

    Example:
        >>> describe("contrast")
        'Contrast: shrink each channel towards its mean by ``factor``.'
    """
    if suite is None:
        owners = [s for s, names in SUITES.items() if name in names]
        suite = owners[0] if owners else "mnist-c"
    return get(name, suite).__doc__.strip().splitlines()[0]  # type: ignore[union-attr]


__all__ = ["CORRUPTIONS", "PARAMS_VERSION", "PUBLISHED_SEVERITY", "SOURCES", "SUITES",
           "Corruption", "ImageRNG", "corrupt", "corruption_error", "describe", "get", "params",
           "suite_for"]
