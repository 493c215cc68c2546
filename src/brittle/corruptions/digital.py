"""Digital corruptions: brightness, contrast, saturation, JPEG and pixelation.

Tables from Hendrycks & Dietterich (2019) (``make_cifar_c.py``) and Mu & Gilmer (2019)
(MNIST-C ``corruptions.py``). The HSV edits are done in closed form: for fixed hue, RGB is
linear in value and in saturation, so no round trip through HSV is needed.
"""

from __future__ import annotations

import io
from collections.abc import Mapping
from typing import Any, ClassVar

import numpy as np
import torch
from PIL import Image

from brittle.corruptions import functional as Fc
from brittle.corruptions.base import Corruption, ImageRNG, Tables, register


@register
class Brightness(Corruption):
    """Brightness: raise the HSV value by ``shift`` (for grey images, ``x + shift``)."""

    name = "brightness"
    random = False
    tables: ClassVar[Tables] = {
        "mnist-c": tuple({"shift": c} for c in [0.1, 0.2, 0.3, 0.4, 0.5]),
        "cifar10-c": tuple({"shift": c} for c in [0.05, 0.1, 0.15, 0.2, 0.3]),
    }

    def apply(self, x: torch.Tensor, param: Mapping[str, Any], rng: ImageRNG) -> torch.Tensor:
        v = x.amax(1, keepdim=True)
        v_new = (v + param["shift"]).clamp(max=1)
        # Same hue and saturation: every channel scales with V; black becomes grey V'.
        return torch.where(v > 0, x * v_new / v.clamp_min(1e-12), v_new.expand_as(x))


@register
class Contrast(Corruption):
    """Contrast: shrink each channel towards its mean by ``factor``."""

    name = "contrast"
    random = False
    tables: ClassVar[Tables] = {
        "cifar10-c": tuple({"factor": c} for c in [0.75, 0.5, 0.4, 0.3, 0.15]),
    }

    def apply(self, x: torch.Tensor, param: Mapping[str, Any], rng: ImageRNG) -> torch.Tensor:
        mean = x.mean((2, 3), keepdim=True)
        return (x - mean) * param["factor"] + mean


@register
class Saturate(Corruption):
    """Saturate: HSV saturation ``S * scale + shift`` (severities 1-2 desaturate, 3-5 boost).

    As in skimage, grey pixels have hue 0 (red), so a positive ``shift`` tints them red.
    """

    name = "saturate"
    random = False
    tables: ClassVar[Tables] = {
        "cifar10-c": tuple({"scale": a, "shift": b} for a, b in
            [(0.3, 0.0), (0.1, 0.0), (1.5, 0.0), (2.0, 0.1), (2.5, 0.2)]),
    }

    def apply(self, x: torch.Tensor, param: Mapping[str, Any], rng: ImageRNG) -> torch.Tensor:
        v = x.amax(1, keepdim=True)
        s = torch.where(v > 0, (v - x.amin(1, keepdim=True)) / v.clamp_min(1e-12),
                        torch.zeros_like(v))
        s_new = (s * param["scale"] + param["shift"]).clamp(0, 1)
        coloured = v - (v - x) * s_new / s.clamp_min(1e-12)
        red = torch.cat([v, v * (1 - s_new), v * (1 - s_new)], dim=1)
        return torch.where(s > 0, coloured, red)


@register
class JpegCompression(Corruption):
    """JPEG compression at ``quality`` through a real Pillow encode/decode round trip."""

    name = "jpeg_compression"
    random = False
    tables: ClassVar[Tables] = {
        "cifar10-c": tuple({"quality": q} for q in [80, 65, 58, 50, 40]),
    }

    def apply(self, x: torch.Tensor, param: Mapping[str, Any], rng: ImageRNG) -> torch.Tensor:
        # One image at a time on the CPU: the one corruption not batched in torch.
        arr = (x.detach().cpu().float() * 255).round().to(torch.uint8).permute(0, 2, 3, 1)
        out = np.empty(tuple(arr.shape), dtype=np.uint8)
        mode = "L" if arr.shape[-1] == 1 else "RGB"
        for i, img in enumerate(arr.numpy()):
            buf = io.BytesIO()
            Image.fromarray(img[..., 0] if mode == "L" else img, mode=mode).save(
                buf, format="JPEG", quality=int(param["quality"]))
            decoded = np.asarray(Image.open(buf).convert(mode))
            out[i] = decoded.reshape(out.shape[1:])
        return torch.from_numpy(out).permute(0, 3, 1, 2).to(x) / 255


@register
class Pixelate(Corruption):
    """Pixelate: box-downsample to ``fraction`` of the size and box-upsample back (Pillow)."""

    name = "pixelate"
    random = False
    tables: ClassVar[Tables] = {
        "cifar10-c": tuple({"fraction": c} for c in [0.95, 0.9, 0.85, 0.75, 0.65]),
    }

    def apply(self, x: torch.Tensor, param: Mapping[str, Any], rng: ImageRNG) -> torch.Tensor:
        h, w = x.shape[-2:]
        small = Fc.box_resize(x, int(h * param["fraction"]), int(w * param["fraction"]))
        return Fc.box_resize(small, h, w)
