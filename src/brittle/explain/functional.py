"""Pure tensor functions behind the explainers, the sanity check and the root-cause statistics.

Nothing here touches a model's mode or parameters; the explainers and the sanity check do that.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Literal

import numpy as np
import torch
import torch.nn.functional as F

IntegrationMethod = Literal["riemann_trapezoid", "gausslegendre"]
INTEGRATION_METHODS: tuple[IntegrationMethod, ...] = ("riemann_trapezoid", "gausslegendre")


def target_gradients(forward: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor,
                     target: torch.Tensor, *, batch_size: int) -> torch.Tensor:
    """Gradient of each sample's target logit with respect to its input, in chunks.

    Only the input gets a gradient (``torch.autograd.grad``); parameters keep no ``.grad``.

    Args:
        forward: Maps images ``(B, C, H, W)`` to logits ``(B, K)``.
        x: Inputs ``(N, C, H, W)``.
        target: Class per input ``(N,)`` int64.
        batch_size: Largest number of inputs in one forward/backward pass.

    Returns:
        ``(N, C, H, W)`` gradients, detached.

    Example:
        >>> net = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(4, 2))
        >>> target_gradients(net, torch.rand(3, 1, 2, 2), torch.tensor([0, 1, 0]),
        ...                  batch_size=2).shape
        torch.Size([3, 1, 2, 2])
    """
    return gradients_and_scores(forward, x, target, batch_size=batch_size)[0]


def gradients_and_scores(forward: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor,
                         target: torch.Tensor, *, batch_size: int,
                         ) -> tuple[torch.Tensor, torch.Tensor]:
    """:func:`target_gradients` ``(N, C, H, W)`` and the target logits ``(N,)`` of the same
    forward passes."""
    grads, scores = [], []
    for start in range(0, len(x), batch_size):
        chunk = x[start:start + batch_size].detach().requires_grad_(True)
        with torch.enable_grad():
            score = target_scores(forward(chunk), target[start:start + batch_size])
            (grad,) = torch.autograd.grad(score.sum(), chunk)
        grads.append(grad)
        scores.append(score.detach())
    if not grads:
        return torch.zeros_like(x), x.new_zeros(0)
    return torch.cat(grads), torch.cat(scores)


def target_scores(logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """The logit of each sample's target class: ``(N, K), (N,) -> (N,)``."""
    return logits.gather(1, target[:, None]).squeeze(1)


def integration_points(steps: int, method: IntegrationMethod = "gausslegendre",
                       ) -> tuple[torch.Tensor, torch.Tensor]:
    """Points ``alpha`` in [0, 1] and weights that integrate a function of alpha over [0, 1].

    ``riemann_trapezoid`` is the trapezoid rule on ``steps`` equally spaced points including
    both ends (weights sum to exactly 1); ``gausslegendre`` is Gauss-Legendre quadrature with
    ``steps`` nodes mapped from [-1, 1] to [0, 1].

    Example:
        >>> alphas, weights = integration_points(3, "riemann_trapezoid")
        >>> alphas.tolist(), weights.tolist()
        ([0.0, 0.5, 1.0], [0.25, 0.5, 0.25])
    """
    if method == "riemann_trapezoid":
        if steps < 2:
            raise ValueError("the trapezoid rule needs steps >= 2")
        alphas = np.linspace(0.0, 1.0, steps)
        weights = np.full(steps, 1.0 / (steps - 1))
        weights[[0, -1]] /= 2
    elif method == "gausslegendre":
        nodes, w = np.polynomial.legendre.leggauss(steps)
        alphas, weights = 0.5 * (nodes + 1), 0.5 * w
    else:
        raise ValueError(f"unknown integration method {method!r}")
    return torch.as_tensor(alphas, dtype=torch.float64), torch.as_tensor(weights,
                                                                         dtype=torch.float64)


def gradcam_weights(grads: torch.Tensor) -> torch.Tensor:
    """Grad-CAM channel weights: the spatial mean of the gradients, ``(N, K, h, w) -> (N, K)``
    (Selvaraju et al. 2017, eq. 1)."""
    return grads.mean(dim=(2, 3))


def gradcam_pp_weights(acts: torch.Tensor, grads: torch.Tensor) -> torch.Tensor:
    """Grad-CAM++ channel weights ``(N, K)`` from activations and first-order gradients.

    With the class score passed through ``exp`` (Chattopadhay et al. 2018, eq. 17-19), the
    second and third derivatives of ``exp(Y)`` are ``exp(Y)`` times the second and third power of
    the first-order gradient ``g = dY/dA`` (exact for piecewise-linear nets), so

    ``alpha = g^2 / (2 g^2 + sum_ab(A_ab) g^3)``, ``w = sum_ij alpha_ij relu(g_ij)``.

    The paper's positive per-sample factor ``exp(Y)`` is left out of ``w``: it rescales a
    sample's map without changing it, and overflows float32 for scores above about 88.
    """
    g2 = grads.pow(2)
    denom = 2 * g2 + acts.sum(dim=(2, 3), keepdim=True) * grads.pow(3)
    alpha = torch.where(denom != 0, g2 / torch.where(denom != 0, denom, 1.0), 0.0)
    return (alpha * grads.clamp_min(0)).sum(dim=(2, 3))


def class_activation_map(acts: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
    """``relu(sum_k w_k A_k)``: ``(N, K, h, w), (N, K) -> (N, 1, h, w)``."""
    return (weights[:, :, None, None] * acts).sum(1, keepdim=True).clamp_min(0)


def upsample(maps: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """Bilinear upsampling (``align_corners=False``) of ``(N, 1, h, w)`` maps to ``size``."""
    if tuple(maps.shape[-2:]) == tuple(size):
        return maps
    return F.interpolate(maps, size=size, mode="bilinear", align_corners=False)


def pixel_map(maps: torch.Tensor) -> torch.Tensor:
    """One non-negative value per pixel: ``|maps|`` summed over channels, ``(N, C, H, W) ->
    (N, H, W)``."""
    return maps.abs().sum(1)


def normalize_for_display(maps: torch.Tensor, *, signed: bool = False,
                          percentile: float = 99.0) -> torch.Tensor:
    """Scale each map for display only; raw maps stay raw everywhere else.

    ``signed=False`` maps ``(N, ...)`` to [0, 1] by dividing by the per-sample ``percentile`` of
    the values (clipped); ``signed=True`` maps to [-1, 1] by the percentile of ``|maps|``, so
    zero stays zero.

    Example:
        >>> normalize_for_display(torch.tensor([[0.0, 1.0, 4.0]]), percentile=100).tolist()
        [[0.0, 0.25, 1.0]]
    """
    flat = maps.detach().flatten(1).float()
    values = flat.abs() if signed else flat.clamp_min(0)
    scale = torch.quantile(values, percentile / 100, dim=1).clamp_min(1e-12)
    scaled = flat / scale[:, None]
    out = scaled.clamp(-1, 1) if signed else scaled.clamp(0, 1)
    return out.reshape(maps.shape)


def minmax(maps: torch.Tensor) -> torch.Tensor:
    """Each sample of ``(N, ...)`` scaled to [0, 1] by its own min and max (constant: zeros)."""
    flat = maps.flatten(1)
    low, high = flat.min(1, keepdim=True).values, flat.max(1, keepdim=True).values
    span = high - low
    scaled = torch.where(span > 0, (flat - low) / torch.where(span > 0, span, 1.0), 0.0)
    return scaled.reshape(maps.shape)


def _gaussian_window(size: int, sigma: float, dtype: torch.dtype,
                     device: torch.device) -> torch.Tensor:
    coords = torch.arange(size, dtype=dtype, device=device) - (size - 1) / 2
    g = torch.exp(-coords.pow(2) / (2 * sigma * sigma))
    g = g / g.sum()
    return (g[:, None] * g[None, :])[None, None]


def ssim(a: torch.Tensor, b: torch.Tensor, *, data_range: float = 1.0, sigma: float = 1.5,
         k1: float = 0.01, k2: float = 0.03) -> torch.Tensor:
    """Mean structural similarity per sample (Wang et al. 2004), ``(N, H, W) x2 -> (N,)``.

    A Gaussian window (``sigma`` 1.5, 11 taps) over the image reflect-padded to keep its size;
    constants ``C1 = (k1 L)^2`` and ``C2 = (k2 L)^2`` with ``L = data_range``.

    Example:
        >>> x = torch.rand(2, 16, 16)
        >>> ssim(x, x).tolist()
        [1.0, 1.0]
    """
    size = int(3.5 * sigma + 0.5) * 2 + 1
    pad = (size - 1) // 2
    a, b = a[:, None].double(), b[:, None].double()
    if min(a.shape[-2:]) <= pad:
        raise ValueError(f"SSIM needs maps larger than {pad} pixels per side")
    window = _gaussian_window(size, sigma, a.dtype, a.device)
    stack = F.pad(torch.cat([a, b, a * a, b * b, a * b]), (pad,) * 4, mode="reflect")
    mu_a, mu_b, e_aa, e_bb, e_ab = F.conv2d(stack, window).split(len(a))
    var_a = (e_aa - mu_a.pow(2)).clamp_min(0)
    var_b = (e_bb - mu_b.pow(2)).clamp_min(0)
    cov = e_ab - mu_a * mu_b
    c1, c2 = (k1 * data_range) ** 2, (k2 * data_range) ** 2
    index = ((2 * mu_a * mu_b + c1) * (2 * cov + c2)
             / ((mu_a.pow(2) + mu_b.pow(2) + c1) * (var_a + var_b + c2)))
    return index.flatten(1).mean(1).float()


def rank(values: torch.Tensor) -> torch.Tensor:
    """Ranks along the last dimension, ties given their average rank (as in Spearman's rho)."""
    flat = values.reshape(-1, values.shape[-1]).double()
    order = flat.argsort(dim=1)
    sorted_vals = flat.gather(1, order)
    n = flat.shape[1]
    positions = torch.arange(n, dtype=torch.float64, device=flat.device).expand_as(flat)
    # a new run of equal values starts wherever the sorted value changes
    new_run = torch.ones_like(sorted_vals, dtype=torch.bool)
    new_run[:, 1:] = sorted_vals[:, 1:] != sorted_vals[:, :-1]
    run_id = new_run.cumsum(1) - 1
    run_sum = torch.zeros_like(flat).scatter_add_(1, run_id, positions)
    run_len = torch.zeros_like(flat).scatter_add_(1, run_id, torch.ones_like(flat))
    avg = run_sum.gather(1, run_id) / run_len.gather(1, run_id)
    ranks = torch.empty_like(flat).scatter_(1, order, avg)
    return ranks.reshape(values.shape)


def spearman(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Spearman rank correlation per sample of ``(N, ...)`` pairs, ``-> (N,)``.

    Ties take average ranks. A constant map carries no ranking, so its correlation is 0
    (rather than undefined).

    Example:
        >>> spearman(torch.tensor([[1.0, 2.0, 3.0]]), torch.tensor([[10.0, 30.0, 20.0]])).tolist()
        [0.5]
    """
    ra, rb = rank(a.flatten(1)), rank(b.flatten(1))
    ra, rb = ra - ra.mean(1, keepdim=True), rb - rb.mean(1, keepdim=True)
    denom = ra.norm(dim=1) * rb.norm(dim=1)
    rho = torch.where(denom > 0, (ra * rb).sum(1) / torch.where(denom > 0, denom, 1.0), 0.0)
    return rho.float()


def border_mask(height: int, width: int, band: int | None = None) -> torch.Tensor:
    """Boolean ``(H, W)`` mask of the outer band of ``band`` pixels (default
    ``max(1, min(H, W) // 8)``): rows ``< band`` or ``>= H - band``, likewise for columns.

    Example:
        >>> border_mask(8, 8).sum().item()  # band 1: 64 - 36 interior pixels
        28
    """
    band = default_band(height, width) if band is None else band
    if not 0 < 2 * band < min(height, width) + 1:
        raise ValueError(f"band {band} does not fit a {height}x{width} image")
    rows, cols = torch.arange(height)[:, None], torch.arange(width)[None, :]
    return ((rows < band) | (rows >= height - band) | (cols < band) | (cols >= width - band))


def default_band(height: int, width: int) -> int:
    """The border band width used unless one is given: ``max(1, min(H, W) // 8)``."""
    return max(1, min(height, width) // 8)


def border_share(maps: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Share of each map's absolute mass inside ``mask``: ``(N, C, H, W) -> (N,)`` in [0, 1]
    (NaN for an all-zero map)."""
    mass = pixel_map(maps)
    total = mass.flatten(1).sum(1)
    inside = (mass * mask.to(mass.device)).flatten(1).sum(1)
    return torch.where(total > 0, inside / torch.where(total > 0, total, 1.0), math.nan)


def rgb_to_hsv(rgb: torch.Tensor) -> torch.Tensor:
    """HSV of RGB images in [0, 1]: ``(N, 3, H, W) -> (N, 3, H, W)``, hue in [0, 1) (times 360
    for degrees), saturation and value in [0, 1]. Grey pixels get hue 0 and saturation 0.

    Example:
        >>> hsv = rgb_to_hsv(torch.tensor([0.0, 0.0, 1.0]).reshape(1, 3, 1, 1)).flatten()
        >>> [round(v, 4) for v in hsv.tolist()]  # pure blue: hue 240 degrees
        [0.6667, 1.0, 1.0]
    """
    r, g, b = rgb.unbind(1)
    value, argmax = rgb.max(1)
    chroma = value - rgb.min(1).values
    safe = torch.where(chroma > 0, chroma, 1.0)
    hue = torch.where(argmax == 0, ((g - b) / safe) % 6,
                      torch.where(argmax == 1, (b - r) / safe + 2, (r - g) / safe + 4))
    hue = torch.where(chroma > 0, hue / 6, 0.0)
    saturation = torch.where(value > 0, chroma / torch.where(value > 0, value, 1.0), 0.0)
    return torch.stack([hue, saturation, value], 1)


def circular_mean_hue(hue: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    """Weighted circular mean of hues in [0, 1) per sample, ``(N, P) x2 -> (N,)``, in [0, 1).

    Hue is an angle (red sits at both ends), so it is averaged as a unit vector; weighting by
    saturation keeps grey pixels, whose hue is arbitrary, from voting.
    """
    angle = 2 * math.pi * hue
    s, c = (weight * angle.sin()).sum(1), (weight * angle.cos()).sum(1)
    return (torch.atan2(s, c) / (2 * math.pi)) % 1.0
