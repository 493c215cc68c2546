"""Noise corruptions: Gaussian, shot (Poisson), impulse (salt and pepper) and speckle.

Tables from Hendrycks & Dietterich (2019), "Benchmarking Neural Network Robustness to Common
Corruptions and Perturbations" (``make_cifar_c.py``), and Mu & Gilmer (2019), "MNIST-C: A
Robustness Benchmark for Computer Vision" (``corruptions.py``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

import torch

from brittle.corruptions.base import Corruption, ImageRNG, Tables, register


def _table(key: str, values: list[float]) -> tuple[dict[str, Any], ...]:
    return tuple({key: v} for v in values)


@register
class GaussianNoise(Corruption):
    """Gaussian noise: add N(0, std^2) per pixel and channel."""

    name = "gaussian_noise"
    tables: ClassVar[Tables] = {
        "cifar10-c": _table("std", [0.04, 0.06, 0.08, 0.09, 0.10]),
    }

    def apply(self, x: torch.Tensor, param: Mapping[str, Any], rng: ImageRNG) -> torch.Tensor:
        return x + param["std"] * rng.normal(*x.shape[1:]).to(x)


@register
class ShotNoise(Corruption):
    """Shot noise: Poisson photon counts, ``Poisson(x * photons) / photons``."""

    name = "shot_noise"
    tables: ClassVar[Tables] = {
        "mnist-c": _table("photons", [60, 25, 12, 5, 3]),
        "cifar10-c": _table("photons", [500, 250, 100, 75, 50]),
    }

    def apply(self, x: torch.Tensor, param: Mapping[str, Any], rng: ImageRNG) -> torch.Tensor:
        c = float(param["photons"])
        return rng.poisson(x * c) / c


@register
class ImpulseNoise(Corruption):
    """Impulse noise: a fraction ``amount`` of pixel values set to 0 or 1 (salt and pepper)."""

    name = "impulse_noise"
    tables: ClassVar[Tables] = {
        "mnist-c": _table("amount", [0.03, 0.06, 0.09, 0.17, 0.27]),
        "cifar10-c": _table("amount", [0.01, 0.02, 0.03, 0.05, 0.07]),
    }

    def apply(self, x: torch.Tensor, param: Mapping[str, Any], rng: ImageRNG) -> torch.Tensor:
        u = rng.uniform(2, *x.shape[1:]).to(x)
        flipped = u[:, 0] < param["amount"]
        salt = u[:, 1] < 0.5
        return torch.where(flipped, salt.to(x), x)


@register
class SpeckleNoise(Corruption):
    """Speckle noise: multiplicative Gaussian noise, ``x + x * N(0, std^2)``."""

    name = "speckle_noise"
    tables: ClassVar[Tables] = {
        "cifar10-c": _table("std", [0.06, 0.10, 0.12, 0.16, 0.20]),
    }

    def apply(self, x: torch.Tensor, param: Mapping[str, Any], rng: ImageRNG) -> torch.Tensor:
        return x + x * param["std"] * rng.normal(*x.shape[1:]).to(x)
