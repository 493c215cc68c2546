"""Weather corruptions: fog, snow, frost and spatter.

Tables from Hendrycks & Dietterich (2019) (``make_cifar_c.py``) and Mu & Gilmer (2019)
(MNIST-C ``corruptions.py``). Frost uses a procedural ice texture because the reference's frost
photographs cannot be shipped; see ``docs/corruptions.md`` for every deviation.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any, ClassVar

import torch

from brittle.corruptions import functional as Fc
from brittle.corruptions.base import Corruption, ImageRNG, Tables, register


def _plasma(rng: ImageRNG, h: int, w: int, decay: float) -> torch.Tensor:
    size = Fc.next_pow2(max(h, w))
    u = rng.uniform(Fc.plasma_numel(size), low=-1, high=1)
    return Fc.plasma_fractal(u, size, decay)[:, None, :h, :w]


@register
class Fog(Corruption):
    """Fog: add a diamond-square cloud of ``strength`` and roughness ``decay``, renormalize."""

    name = "fog"
    tables: ClassVar[Tables] = {
        "mnist-c": tuple({"strength": s, "decay": d} for s, d in
            [(1.5, 2), (2.0, 2), (2.5, 1.7), (2.5, 1.5), (3.0, 1.4)]),
        "cifar10-c": tuple({"strength": s, "decay": d} for s, d in
            [(0.2, 3), (0.5, 3), (0.75, 2.5), (1.0, 2), (1.5, 1.75)]),
    }

    def apply(self, x: torch.Tensor, param: Mapping[str, Any], rng: ImageRNG) -> torch.Tensor:
        c = param["strength"]
        peak = x.amax((1, 2, 3), keepdim=True)
        h, w = x.shape[-2:]
        fog = _plasma(rng, h, w, param["decay"]).to(x)
        return (x + c * fog) * peak / (peak + c)


@register
class Snow(Corruption):
    """Snow: thresholded zoomed Gaussian flakes, motion-blurred, over a whitened image."""

    name = "snow"
    tables: ClassVar[Tables] = {
        "cifar10-c": tuple(
            {"loc": a, "scale": b, "zoom": z, "threshold": t, "blur_radius": r, "blur_sigma": s,
             "mix": m} for a, b, z, t, r, s, m in
            [(0.1, 0.2, 1, 0.6, 8, 3, 0.95), (0.1, 0.2, 1, 0.5, 10, 4, 0.9),
             (0.15, 0.3, 1.75, 0.55, 10, 4, 0.9), (0.25, 0.3, 2.25, 0.6, 12, 6, 0.85),
             (0.3, 0.3, 1.25, 0.65, 14, 12, 0.8)]),
    }

    def apply(self, x: torch.Tensor, param: Mapping[str, Any], rng: ImageRNG) -> torch.Tensor:
        h, w = x.shape[-2:]
        flakes = rng.normal(1, h, w, mean=param["loc"], std=param["scale"]).to(x)
        flakes = Fc.clipped_zoom(flakes, param["zoom"])
        flakes = torch.where(flakes < param["threshold"], 0.0, flakes)
        flakes = (flakes.clamp(0, 1) * 255).floor() / 255  # the reference's 8-bit PNG
        angle = rng.uniform(low=-135, high=-45)
        flakes = Fc.motion_blur(flakes, param["blur_radius"], param["blur_sigma"], angle)
        m = param["mix"]
        x = m * x + (1 - m) * torch.maximum(x, Fc.rgb_to_gray(x) * 1.5 + 0.5)
        return x + flakes + flakes.flip(-1, -2)


def frost_texture(rng: ImageRNG, h: int, w: int, *, needles: int = 40) -> torch.Tensor:
    """A procedural ice texture ``(N, 3, H, W)`` in [0, 1]: a rough cloud plus crystal needles.

    Stands in for the frost photographs of ImageNet-C: pale blue-white, fine-grained, with
    bright streaks at random angles and a mean near 0.6.
    """
    base = _plasma(rng, h, w, 1.3)
    scale = max(h, w) / 32
    u = rng.uniform(needles, 5)
    centre = u[..., :2] * torch.tensor([w - 1.0, h - 1.0], device=u.device)
    theta = u[..., 2] * math.pi
    half = (1.5 + 4 * u[..., 3]) * scale
    along = torch.stack([torch.cos(theta), torch.sin(theta)], -1) * half[..., None]
    crystals = Fc.draw_segments(centre - along, centre + along, 0.4 + 0.6 * u[..., 4],
                                1.2 * scale, h, w)
    gray = (0.3 + 0.5 * base + 0.7 * crystals).clamp(0, 1)
    tint = torch.tensor([0.8, 0.9, 1.0], device=gray.device).view(1, 3, 1, 1)
    return gray * tint


@register
class Frost(Corruption):
    """Frost: blend ``image * x + frost * texture`` with a procedural ice texture."""

    name = "frost"
    tables: ClassVar[Tables] = {
        "cifar10-c": tuple({"image": a, "frost": b} for a, b in
            [(1, 0.2), (1, 0.3), (0.9, 0.4), (0.85, 0.4), (0.75, 0.45)]),
    }

    def apply(self, x: torch.Tensor, param: Mapping[str, Any], rng: ImageRNG) -> torch.Tensor:
        h, w = x.shape[-2:]
        texture = frost_texture(rng, h, w).to(x)
        return param["image"] * x + param["frost"] * texture


_WATER = (175 / 255, 238 / 255, 238 / 255)
_MUD = {"mnist-c": (63 / 255,), "cifar10-c": (63 / 255, 42 / 255, 20 / 255)}
_EMBOSS = torch.tensor([[-2.0, -1.0, 0.0], [-1.0, 1.0, 1.0], [0.0, 1.0, 2.0]])


@register
class Spatter(Corruption):
    """Spatter: thresholded smoothed noise as water drops (light, embossed) or mud (opaque).

    ``loc``/``scale``/``sigma``/``threshold`` shape the liquid layer; ``spread`` is the water
    opacity or the mud-mask blur. MNIST-C always draws mud (its code ignores the last column).
    """

    name = "spatter"
    tables: ClassVar[Tables] = {
        "mnist-c": tuple({"loc": a, "scale": b, "sigma": s, "threshold": t, "spread": p,
                          "kind": "mud"} for a, b, s, t, p in
            [(0.65, 0.3, 4, 0.69, 0.6), (0.65, 0.3, 3, 0.68, 0.6),
             (0.65, 0.3, 2, 0.68, 0.5), (0.65, 0.3, 1, 0.65, 1.5),
             (0.67, 0.4, 1, 0.65, 1.5)]),
        "cifar10-c": tuple({"loc": a, "scale": b, "sigma": s, "threshold": t, "spread": p,
                            "kind": k} for a, b, s, t, p, k in
            [(0.62, 0.1, 0.7, 0.7, 0.5, "water"),
             (0.65, 0.1, 0.8, 0.7, 0.5, "water"),
             (0.65, 0.3, 1, 0.69, 0.5, "water"),
             (0.65, 0.1, 0.7, 0.69, 0.6, "mud"),
             (0.65, 0.1, 0.5, 0.68, 0.6, "mud")]),
    }

    def apply(self, x: torch.Tensor, param: Mapping[str, Any], rng: ImageRNG) -> torch.Tensor:
        h, w = x.shape[-2:]
        liquid = rng.normal(1, h, w, mean=param["loc"], std=param["scale"]).to(x)
        liquid = Fc.gaussian_blur(liquid, param["sigma"])
        wet = liquid >= param["threshold"]
        if param["kind"] == "mud":
            m = Fc.gaussian_blur(wet.to(x), param["spread"])
            m = torch.where(m < 0.8, 0.0, m)
            colour = torch.tensor(_MUD[self.suite], device=x.device, dtype=x.dtype)
            return x * (1 - m) + colour.view(1, -1, 1, 1) * m
        liquid = liquid * wet
        edges = Fc.canny((liquid * 255).floor().clamp(0, 255), 50, 150, l1=True)
        dist = Fc.box_blur3(Fc.chamfer_distance(edges, 20)).floor()
        dist = Fc.equalize_hist(dist)
        dist = Fc.conv2d_same(dist, _EMBOSS.to(x.device)).round().clamp(0, 255)
        dist = Fc.box_blur3(dist).round()
        m = liquid * dist
        m = m / m.amax((2, 3), keepdim=True).clamp_min(1e-12) * param["spread"]
        colour = torch.tensor(_WATER, device=x.device, dtype=x.dtype).view(1, 3, 1, 1)
        return x + m * colour
