"""Blur corruptions: Gaussian, defocus, glass, motion and zoom blur.

Tables from Hendrycks & Dietterich (2019) (``make_cifar_c.py``) and Mu & Gilmer (2019)
(MNIST-C ``corruptions.py``). Motion blur reimplements ImageMagick's ``MotionBlurImage``,
which both references call through Wand.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar, Literal

import torch

from brittle.corruptions import functional as Fc
from brittle.corruptions.base import Corruption, ImageRNG, Tables, register


@register
class GaussianBlur(Corruption):
    """Gaussian blur of standard deviation ``sigma`` pixels (nearest-pixel borders)."""

    name = "gaussian_blur"
    random = False
    tables: ClassVar[Tables] = {
        "cifar10-c": tuple({"sigma": s} for s in [0.4, 0.6, 0.7, 0.8, 1.0]),
    }

    def apply(self, x: torch.Tensor, param: Mapping[str, Any], rng: ImageRNG) -> torch.Tensor:
        return Fc.gaussian_blur(x, param["sigma"])


@register
class DefocusBlur(Corruption):
    """Defocus blur: convolution with an anti-aliased disk of ``radius`` pixels."""

    name = "defocus_blur"
    random = False
    tables: ClassVar[Tables] = {
        "cifar10-c": tuple({"radius": r, "alias_blur": a} for r, a in
            [(0.3, 0.4), (0.4, 0.5), (0.5, 0.6), (1, 0.2), (1.5, 0.1)]),
    }

    def apply(self, x: torch.Tensor, param: Mapping[str, Any], rng: ImageRNG) -> torch.Tensor:
        kernel = Fc.disk_kernel(param["radius"], param["alias_blur"], device=x.device)
        return Fc.conv2d_same(x, kernel, mode="reflect")


@register
class GlassBlur(Corruption):
    """Glass blur: Gaussian blur, local pixel swaps within ``max_delta``, Gaussian blur again.

    The swaps run sequentially over positions from the bottom-right corner, as in the
    references, and in parallel over the batch. MNIST-C swaps each position with probability
    1/2 and, through skimage's ``multichannel=True`` on a 2-D image, blurs along rows only.
    """

    name = "glass_blur"
    tables: ClassVar[Tables] = {
        "mnist-c": tuple({"sigma": s, "max_delta": d, "iterations": i} for s, d, i in
            [(0.7, 1, 2), (0.9, 2, 1), (1, 2, 3), (1.1, 3, 2), (1.5, 4, 2)]),
        "cifar10-c": tuple({"sigma": s, "max_delta": d, "iterations": i} for s, d, i in
            [(0.05, 1, 1), (0.25, 1, 1), (0.4, 1, 1), (0.25, 1, 2), (0.4, 1, 2)]),
    }

    def apply(self, x: torch.Tensor, param: Mapping[str, Any], rng: ImageRNG) -> torch.Tensor:
        axes: Literal["both", "rows"] = "rows" if self.suite == "mnist-c" else "both"
        x = Fc.gaussian_blur(x, param["sigma"], axes=axes)
        n, c, h, w = x.shape
        d = int(param["max_delta"])
        positions = [hh * w + ww for hh in range(h - d, d, -1) for ww in range(w - d, d, -1)]
        steps = len(positions) * int(param["iterations"])
        delta = rng.integers(-d, d, steps, 2)
        jump = delta[..., 0] * w + delta[..., 1]  # (N, steps): dy * W + dx
        if self.suite == "mnist-c":
            jump = jump * rng.integers(0, 2, steps)
        # Pixels as rows of a (H*W, N, C) table: position p is one contiguous row.
        table = x.permute(2, 3, 0, 1).reshape(h * w, n, c).contiguous()
        cells = table.view(h * w * n, c)
        pos = torch.tensor(positions, device=x.device).repeat(int(param["iterations"]))
        targets = (pos[:, None] + jump.T) * n + torch.arange(n, device=x.device)  # (steps, N)
        for t in range(steps):
            p, idx = positions[t % len(positions)], targets[t]
            here = table[p].clone()
            table[p] = cells.index_select(0, idx)
            cells.index_copy_(0, idx, here)
        flat = table.view(h, w, n, c).permute(2, 3, 0, 1)
        return Fc.gaussian_blur(flat.contiguous(), param["sigma"], axes=axes)


@register
class MotionBlur(Corruption):
    """Motion blur: a one-sided Gaussian trail (``radius``, ``sigma``) at a random angle."""

    name = "motion_blur"
    tables: ClassVar[Tables] = {
        "mnist-c": tuple({"radius": r, "sigma": s} for r, s in
            [(10, 3), (15, 5), (15, 8), (15, 12), (20, 15)]),
        "cifar10-c": tuple({"radius": r, "sigma": s} for r, s in
            [(6, 1), (6, 1.5), (6, 2), (8, 2), (9, 2.5)]),
    }

    def apply(self, x: torch.Tensor, param: Mapping[str, Any], rng: ImageRNG) -> torch.Tensor:
        angle = rng.uniform(low=-45, high=45)
        return Fc.motion_blur(x, param["radius"], param["sigma"], angle)


@register
class ZoomBlur(Corruption):
    """Zoom blur: the mean of the image and its centre zooms by ``1 + step * k``."""

    name = "zoom_blur"
    random = False
    # np.arange(1, 1.06, 0.01) has 7 entries (float rounding keeps the end point), etc.
    tables: ClassVar[Tables] = {
        "cifar10-c": tuple({"step": 0.01, "count": k} for k in [7, 12, 16, 21, 26]),
    }

    def apply(self, x: torch.Tensor, param: Mapping[str, Any], rng: ImageRNG) -> torch.Tensor:
        out = x.clone()
        for k in range(param["count"]):
            out += Fc.clipped_zoom(x, 1 + param["step"] * k)
        return out / (param["count"] + 1)
