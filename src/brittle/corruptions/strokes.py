"""MNIST-C's stroke corruptions: stripe, dotted line, zigzag and Canny edges.

Mu & Gilmer (2019) define these at one level. We extend them to five severities so that the
published corruption is one of them (``PUBLISHED_SEVERITY`` says which) and severity never
decreases the distance from the clean image: stripe widens the inverted bands, dotted line and
zigzag draw 1..5 independent strokes (the first ``s`` of five drawn per image, so a higher
severity adds strokes), and Canny edges blends the edge map in at 20%..100%.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

import torch

from brittle.corruptions import functional as Fc
from brittle.corruptions.base import Corruption, ImageRNG, Tables, register

_STROKES = 5


@register
class Stripe(Corruption):
    """Stripe: invert the outer ``columns`` (28-pixel units) on the left and the right."""

    name = "stripe"
    random = False
    tables: ClassVar[Tables] = {
        "mnist-c": tuple({"columns": c} for c in [3, 5, 7, 9, 11]),
    }

    def apply(self, x: torch.Tensor, param: Mapping[str, Any], rng: ImageRNG) -> torch.Tensor:
        w = x.shape[-1]
        k = min(round(param["columns"] * w / 28), w // 2)
        out = x.clone()
        out[..., :k] = 1 - x[..., :k]
        out[..., w - k:] = 1 - x[..., w - k:]
        return out


@register
class DottedLine(Corruption):
    """Dotted line: ``lines`` dashed strokes across the image at random heights."""

    name = "dotted_line"
    tables: ClassVar[Tables] = {
        "mnist-c": tuple({"lines": k} for k in range(1, 6)),
    }

    def apply(self, x: torch.Tensor, param: Mapping[str, Any], rng: ImageRNG) -> torch.Tensor:
        h, w = x.shape[-2:]
        rows = rng.integers(0, 27, _STROKES, 2)[:, : param["lines"]].to(x)
        zero, end = torch.zeros_like(rows[..., 0]), torch.full_like(rows[..., 0], 27.0)
        lines = Fc.draw_lines(zero, rows[..., 0], end, rows[..., 1], h, w)
        _, cc = Fc.unit_grid(h, w, x.device)
        dashes = (torch.floor(cc / 2) % 2 == 1).to(x)
        return x + lines * dashes


def zigzag_segments(r0: torch.Tensor, r1: torch.Tensor) -> torch.Tensor:
    """MNIST-C's zigzag from column 2 to 25: endpoints ``(..., 8, 2)`` as ``(col, row)``.

    Teeth of half-length 2 and height 2 along the line from ``(2, r0)`` towards ``(25, r1)``;
    for ``|r1 - r0| <= 5`` the reference always produces these eight points.
    """
    theta = torch.atan((r1 - r0) / 23)
    d = 23 / torch.cos(theta)
    cols = torch.tensor([0.0, 2, 6, 10, 14, 18, 22], device=r0.device).expand(*r0.shape, 7)
    rows = torch.tensor([0.0, 2, -2, 2, -2, 2, -2], device=r0.device).expand(*r0.shape, 7)
    cols = torch.cat([cols, d[..., None]], -1)
    rows = torch.cat([rows, (-2 / (2 * (d - 20)))[..., None]], -1)
    cos, sin = torch.cos(theta)[..., None], torch.sin(theta)[..., None]
    c = cos * cols - sin * rows + 2
    r = sin * cols + cos * rows + r0[..., None]
    return torch.stack([c, r], -1)


@register
class Zigzag(Corruption):
    """Zigzag: ``lines`` zigzag strokes across the image at random heights and slopes."""

    name = "zigzag"
    tables: ClassVar[Tables] = {
        "mnist-c": tuple({"lines": k} for k in range(1, 6)),
    }

    def apply(self, x: torch.Tensor, param: Mapping[str, Any], rng: ImageRNG) -> torch.Tensor:
        h, w = x.shape[-2:]
        k = param["lines"]
        r0 = rng.integers(0, 27, _STROKES)[:, :k].to(x)
        r1 = r0 + rng.integers(-5, 5, _STROKES)[:, :k].to(x)
        pts = zigzag_segments(r0, r1).flatten(1, 2)  # (N, k * 8, 2)
        keep = torch.ones(8, dtype=torch.bool, device=x.device)
        keep[-1] = False  # no segment from one zigzag's end to the next one's start
        first = pts[:, :-1][:, keep.repeat(k)[:-1]]
        second = pts[:, 1:][:, keep.repeat(k)[:-1]]
        return x + Fc.draw_lines(first[..., 0], first[..., 1], second[..., 0], second[..., 1],
                                 h, w)


@register
class CannyEdges(Corruption):
    """Canny edges: blend in the digit's Canny edge map (sigma 1) with weight ``blend``."""

    name = "canny_edges"
    random = False
    tables: ClassVar[Tables] = {
        "mnist-c": tuple({"blend": b} for b in [0.2, 0.4, 0.6, 0.8, 1.0]),
    }

    def apply(self, x: torch.Tensor, param: Mapping[str, Any], rng: ImageRNG) -> torch.Tensor:
        edges = Fc.canny(x, 0.1, 0.2, sigma=1.0, exclude_border=True).to(x)
        b = param["blend"]
        return (1 - b) * x + b * edges
