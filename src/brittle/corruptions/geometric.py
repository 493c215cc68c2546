"""Geometric corruptions: MNIST-C's shear, scale, rotate and translate; CIFAR-10-C's elastic.

MNIST-C (Mu & Gilmer 2019) warps with skimage ``AffineTransform`` (0.14 semantics) used as an
inverse map about the image centre, bilinear, zero outside. Distances are in 28-pixel units
and scale with the image. Elastic transform follows Hendrycks & Dietterich (2019).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

import torch

from brittle.corruptions import functional as Fc
from brittle.corruptions.base import Corruption, ImageRNG, Tables, register


def _warp_linear(x: torch.Tensor, linear: torch.Tensor) -> torch.Tensor:
    h, w = x.shape[-2:]
    return Fc.warp_affine(x, Fc.centered_affine(linear.to(x.device), h, w))


@register
class Shear(Corruption):
    """Shear by ``angle`` radians in a random direction (skimage ``shear``), centre fixed."""

    name = "shear"
    tables: ClassVar[Tables] = {
        "mnist-c": tuple({"angle": a} for a in [0.2, 0.4, 0.6, 0.8, 1.0]),
    }

    def apply(self, x: torch.Tensor, param: Mapping[str, Any], rng: ImageRNG) -> torch.Tensor:
        a = param["angle"] * rng.signs()
        lin = torch.zeros(x.shape[0], 2, 2)
        lin[:, 0, 0] = 1
        lin[:, 0, 1] = -torch.sin(a.cpu())
        lin[:, 1, 1] = torch.cos(a.cpu())
        return _warp_linear(x, lin)


@register
class Scale(Corruption):
    """Scale the digit down by ``factor`` about the centre."""

    name = "scale"
    random = False
    tables: ClassVar[Tables] = {
        "mnist-c": tuple({"factor": f} for f in [0.9, 0.8, 0.7, 0.6, 0.5]),
    }

    def apply(self, x: torch.Tensor, param: Mapping[str, Any], rng: ImageRNG) -> torch.Tensor:
        lin = torch.eye(2).expand(x.shape[0], 2, 2) / param["factor"]
        return _warp_linear(x, lin)


@register
class Rotate(Corruption):
    """Rotate by ``angle`` radians in a random direction about the centre."""

    name = "rotate"
    tables: ClassVar[Tables] = {
        "mnist-c": tuple({"angle": a} for a in [0.2, 0.4, 0.6, 0.8, 1.0]),
    }

    def apply(self, x: torch.Tensor, param: Mapping[str, Any], rng: ImageRNG) -> torch.Tensor:
        a = (param["angle"] * rng.signs()).cpu()
        cos, sin = torch.cos(a), torch.sin(a)
        lin = torch.stack([torch.stack([cos, -sin], -1), torch.stack([sin, cos], -1)], 1)
        return _warp_linear(x, lin)


@register
class Translate(Corruption):
    """Translate by ``pixels`` (28-pixel units) along each axis, random signs."""

    name = "translate"
    tables: ClassVar[Tables] = {
        "mnist-c": tuple({"pixels": p} for p in [1, 2, 3, 4, 5]),
    }

    def apply(self, x: torch.Tensor, param: Mapping[str, Any], rng: ImageRNG) -> torch.Tensor:
        n, _, h, w = x.shape
        shift = rng.signs(2).cpu() * param["pixels"] * torch.tensor([w / 28, h / 28])
        inv = torch.cat([torch.eye(2).expand(n, 2, 2), shift[..., None]], -1)
        return Fc.warp_affine(x, inv.to(x.device))


@register
class ElasticTransform(Corruption):
    """Elastic transform: a random affine jitter of three anchor points plus a smooth field.

    Parameters are fractions of the image size: ``alpha`` (field strength), ``sigma`` (field
    smoothness) and ``affine`` (anchor jitter); the two warps are composed into one bilinear
    resampling with mirrored borders.
    """

    name = "elastic_transform"
    tables: ClassVar[Tables] = {
        "cifar10-c": tuple({"alpha": a, "sigma": s, "affine": f} for a, s, f in
            [(0.0, 0.0, 0.08), (0.05, 0.2, 0.07), (0.08, 0.06, 0.06),
             (0.1, 0.04, 0.05), (0.1, 0.03, 0.03)]),
    }

    def apply(self, x: torch.Tensor, param: Mapping[str, Any], rng: ImageRNG) -> torch.Tensor:
        n, _, h, w = x.shape
        size = min(h, w)
        alpha, sigma, jitter = (param[k] * size for k in ("alpha", "sigma", "affine"))
        # cv2 points (x, y) around the centre; the inverse map sends jittered -> original.
        cx, cy, s = float(w // 2), float(h // 2), float(size // 3)
        src = torch.tensor([[cx + s, cy + s], [cx + s, cy - s], [cx - s, cy - s]])
        dst = src + rng.uniform(3, 2, low=-jitter, high=jitter).cpu()
        lhs = torch.cat([dst, torch.ones(n, 3, 1)], -1)
        inv = torch.linalg.solve(lhs, src.expand(n, 3, 2)).transpose(1, 2)  # (N, 2, 3)
        field = rng.uniform(2, h, w, low=-1, high=1).to(x)
        if alpha > 0 and sigma > 0:
            k = Fc.gaussian_kernel1d(sigma, truncate=3, device=x.device)
            field = Fc.conv_separable(field, k, k, mode="reflect") * alpha
        else:
            field = torch.zeros_like(field)
        grid = Fc.pixel_grid(h, w, x.device)[None].expand(n, h, w, 3).clone()
        grid[..., :2] += field.permute(0, 2, 3, 1)
        coords = torch.einsum("nhwk,njk->nhwj", grid, inv.to(grid))
        return Fc.sample_pixels(x, coords, padding="reflection")


