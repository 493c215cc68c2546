"""Pure tensor helpers shared by the corruptions: kernels, warps, zooms, fractals, strokes.

Every function is batched over ``(N, C, H, W)`` and runs on the input's device. Randomness is
never drawn here; callers pass the random numbers in, so these functions are deterministic.
"""

from __future__ import annotations

import functools
import itertools
import math
from typing import Literal

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

PadMode = Literal["replicate", "reflect", "constant"]


def gaussian_kernel1d(sigma: float, *, truncate: float = 4.0,
                      device: torch.device | None = None) -> torch.Tensor:
    """The normalized 1-D Gaussian of scipy.ndimage: radius ``int(truncate * sigma + 0.5)``."""
    radius = max(int(truncate * sigma + 0.5), 0)
    t = torch.arange(-radius, radius + 1, dtype=torch.float32, device=device)
    k = torch.exp(-0.5 * (t / sigma) ** 2)
    return k / k.sum()


@functools.lru_cache(maxsize=256)
def _axis_matrix_cpu(kernel: tuple[float, ...], n: int, mode: str) -> torch.Tensor:
    r = len(kernel) // 2
    m = torch.zeros(n, n, dtype=torch.float64)
    for i in range(n):
        for t, k in enumerate(kernel):
            j = i + t - r
            if mode == "replicate":
                j = min(max(j, 0), n - 1)
            elif mode == "reflect":
                period = 2 * (n - 1)
                j = abs(j) % period if n > 1 else 0
                j = period - j if j >= n else j
            elif not 0 <= j < n:
                continue
            m[i, j] += k
    return m.float()


def axis_matrix(kernel: torch.Tensor, n: int, mode: PadMode, device: torch.device
                ) -> torch.Tensor:
    """The ``(n, n)`` matrix of a 1-D correlation with ``kernel`` and its border ``mode``.

    ``reflect`` is OpenCV's BORDER_REFLECT_101, ``replicate`` scipy's ``nearest``,
    ``constant`` reads zeros.
    """
    key = tuple(float(v) for v in kernel.detach().cpu().tolist())
    return _axis_matrix_cpu(key, n, mode).to(device)


def conv_separable(x: torch.Tensor, kh: torch.Tensor | None, kw: torch.Tensor | None, *,
                   mode: PadMode = "replicate") -> torch.Tensor:
    """Correlate every channel of ``x`` ``(N, C, H, W)`` with ``kh`` along H and ``kw`` along W.

    Kernels have odd length; ``None`` skips an axis. Each pass is one matrix product with a
    banded matrix that folds the border ``mode`` in (much faster than thin ``conv2d`` on CPU).
    """
    h, w = x.shape[-2:]
    for k in (kh, kw):
        if k is not None and k.numel() == 1:
            x = x * float(k)
    if kw is not None and kw.numel() > 1:
        x = x @ axis_matrix(kw, w, mode, x.device).to(x.dtype).T
    if kh is not None and kh.numel() > 1:
        x = (x.transpose(-1, -2) @ axis_matrix(kh, h, mode, x.device).to(x.dtype).T
             ).transpose(-1, -2)
    return x


def gaussian_blur(x: torch.Tensor, sigma: float, *, axes: Literal["both", "rows"] = "both",
                  truncate: float = 4.0, mode: PadMode = "replicate") -> torch.Tensor:
    """skimage/scipy Gaussian blur per channel (``nearest`` borders by default).

    ``axes="rows"`` blurs along H only, as skimage does for a 2-D image with
    ``multichannel=True`` (MNIST-C's glass blur).
    """
    if sigma <= 0:
        return x
    k = gaussian_kernel1d(sigma, truncate=truncate, device=x.device)
    return conv_separable(x, k, k if axes == "both" else None, mode=mode)


def box_blur3(x: torch.Tensor) -> torch.Tensor:
    """OpenCV ``blur(x, (3, 3))``: a 3x3 mean with BORDER_REFLECT_101."""
    k = torch.full((3,), 1 / 3, device=x.device)
    return conv_separable(x, k, k, mode="reflect")


def conv2d_same(x: torch.Tensor, kernel: torch.Tensor, *, mode: PadMode = "reflect"
                ) -> torch.Tensor:
    """Correlate each channel with one odd-sized 2-D ``kernel`` (OpenCV ``filter2D``).

    The kernel is split by SVD into separable rank-one terms, each run by
    :func:`conv_separable`; exact up to float rounding.
    """
    u, sv, vh = torch.linalg.svd(kernel.double().cpu())
    out = torch.zeros_like(x)
    for i in range(int((sv > sv[0] * 1e-9).sum())):
        kh = (u[:, i] * sv[i]).float()
        kw = vh[i].float()
        out = out + conv_separable(x, kh, kw, mode=mode)
    return out


def disk_kernel(radius: float, alias_blur: float, *, device: torch.device | None = None
                ) -> torch.Tensor:
    """The anti-aliased disk of ImageNet-C's defocus blur, cropped to its support.

    A 17x17 (or wider) binary disk, normalized, then smoothed by a 3x3 (5x5 past radius 8)
    Gaussian of ``alias_blur`` with reflected borders, as OpenCV's GaussianBlur does.
    """
    half = 8 if radius <= 8 else math.ceil(radius)
    t = torch.arange(-half, half + 1, dtype=torch.float32, device=device)
    disk = ((t[None, :] ** 2 + t[:, None] ** 2) <= radius**2).float()
    disk = disk / disk.sum()
    ks = 3 if radius <= 8 else 5
    g = torch.exp(-0.5 * (torch.arange(ks, device=device) - ks // 2).float() ** 2
                  / alias_blur**2)
    kernel = conv_separable(disk[None, None], g / g.sum(), g / g.sum(), mode="reflect")[0, 0]
    rows = kernel.abs().sum(1).nonzero()
    r = int(max(half - rows.min().item(), rows.max().item() - half))
    return kernel[half - r: half + r + 1, half - r: half + r + 1]


def pixel_grid(h: int, w: int, device: torch.device) -> torch.Tensor:
    """Pixel coordinates ``(H, W, 3)`` as ``(col, row, 1)``."""
    rows, cols = torch.meshgrid(torch.arange(h, dtype=torch.float32, device=device),
                                torch.arange(w, dtype=torch.float32, device=device),
                                indexing="ij")
    return torch.stack([cols, rows, torch.ones_like(rows)], dim=-1)


def sample_pixels(x: torch.Tensor, coords: torch.Tensor, *,
                  padding: Literal["zeros", "reflection", "border"] = "zeros") -> torch.Tensor:
    """Bilinear sampling of ``x`` ``(N, C, H, W)`` at pixel coordinates ``(N, H', W', 2)``.

    Coordinates are ``(col, row)``; ``reflection`` mirrors about the border pixel centres
    (OpenCV BORDER_REFLECT_101), ``zeros`` reads 0 outside (skimage ``mode="constant"``).
    """
    h, w = x.shape[-2:]
    scale = torch.tensor([2 / max(w - 1, 1), 2 / max(h - 1, 1)], device=x.device)
    grid = coords * scale - 1
    return F.grid_sample(x, grid.to(x.dtype), mode="bilinear", padding_mode=padding,
                         align_corners=True)


def warp_affine(x: torch.Tensor, inverse: torch.Tensor, *,
                padding: Literal["zeros", "reflection", "border"] = "zeros") -> torch.Tensor:
    """Warp ``x`` by per-image inverse maps ``(N, 2, 3)`` from output to input pixel coords.

    This is skimage ``warp(x, inverse_map=A)`` with bilinear interpolation.
    """
    h, w = x.shape[-2:]
    grid = pixel_grid(h, w, device=x.device)
    coords = torch.einsum("hwk,njk->nhwj", grid, inverse.to(grid))
    return sample_pixels(x, coords, padding=padding)


def centered_affine(linear: torch.Tensor, h: int, w: int) -> torch.Tensor:
    """Inverse maps ``(N, 2, 3)`` for linear parts ``(N, 2, 2)`` that fix the image centre."""
    centre = torch.tensor([(w - 1) / 2, (h - 1) / 2], device=linear.device)
    shift = centre - linear @ centre
    return torch.cat([linear, shift[..., None]], dim=-1)


@functools.lru_cache(maxsize=64)
def _zoom_matrix_cpu(size: int, factor: float) -> torch.Tensor:
    crop = math.ceil(size / factor)
    top = (size - crop) // 2
    out = round(crop * factor)
    trim = (out - size) // 2
    pos = top + (torch.arange(size, dtype=torch.float64) + trim) * (crop - 1) / max(out - 1, 1)
    lo = pos.floor().clamp(0, size - 1)
    frac = pos - lo
    hi = (lo + 1).clamp(max=size - 1)
    m = torch.zeros(size, size, dtype=torch.float64)
    rows = torch.arange(size)
    m.index_put_((rows, lo.long()), 1 - frac, accumulate=True)
    m.index_put_((rows, hi.long()), frac, accumulate=True)
    return m.float()


def clipped_zoom(x: torch.Tensor, factor: float) -> torch.Tensor:
    """ImageNet-C's ``clipped_zoom``: zoom the centre crop by ``factor`` (linear), crop back.

    Implemented as one interpolation matrix per axis, so it costs two small matmuls.
    """
    h, w = x.shape[-2:]
    mh = _zoom_matrix_cpu(h, float(factor)).to(x)
    mw = _zoom_matrix_cpu(w, float(factor)).to(x)
    return mh @ x @ mw.T


@functools.lru_cache(maxsize=64)
def _box_matrix_cpu(n_in: int, n_out: int) -> torch.Tensor:
    """Pillow's BOX resampling weights ``(n_out, n_in)``, read off Pillow itself."""
    eye = np.eye(n_in, dtype=np.float32)
    box = Image.Resampling.BOX
    cols = [np.asarray(Image.fromarray(eye[j: j + 1], mode="F").resize((n_out, 1), box))
            for j in range(n_in)]
    return torch.from_numpy(np.concatenate(cols, axis=0).T.copy())


def box_resize(x: torch.Tensor, h_out: int, w_out: int) -> torch.Tensor:
    """Pillow ``resize(..., Image.Resampling.BOX)`` on ``(N, C, H, W)`` as two matmuls."""
    h, w = x.shape[-2:]
    return _box_matrix_cpu(h, h_out).to(x) @ x @ _box_matrix_cpu(w, w_out).to(x).T


def motion_blur(x: torch.Tensor, radius: float, sigma: float, angle_deg: torch.Tensor
                ) -> torch.Tensor:
    """ImageMagick's ``MotionBlurImage``: a one-sided Gaussian trail along an angle per image.

    Width ``2 * ceil(radius) + 1`` taps with weights ``exp(-j^2 / (2 sigma^2))`` (taps below
    1e-7 of the total are skipped); tap ``j`` reads the pixel at integer offset
    ``(ceil(j cos a - 0.5), ceil(j sin a - 0.5))`` with edge replication. ``angle_deg`` is
    ``(N,)``. Images are sorted by angle so that each tap is a few slice-adds over runs of
    images that share an offset.
    """
    n, _, h, w = x.shape
    width = 2 * math.ceil(radius) + 1
    j = torch.arange(width, dtype=torch.float64)
    k = torch.exp(-(j**2) / (2 * sigma**2))
    k = k / k.sum()
    taps = [t for t in range(width) if k[t] >= 1e-7]
    a = torch.deg2rad(angle_deg.detach().double().cpu())
    order = torch.argsort(a)
    ox = torch.ceil(j[None] * torch.cos(a[order])[:, None] - 0.5).long()  # (N, width)
    oy = torch.ceil(j[None] * torch.sin(a[order])[:, None] - 0.5).long()
    px = (int(ox[:, taps].abs().max()), int(oy[:, taps].abs().max()))
    pad = F.pad(x[order.to(x.device)], (px[0], px[0], px[1], px[1]), mode="replicate")
    out = torch.zeros_like(x)
    for t in taps:
        key = ox[:, t] * (2 * h + 2 * w) + oy[:, t]
        cuts = [0, *(torch.nonzero(key[1:] != key[:-1]).flatten() + 1).tolist(), n]
        for lo, hi in itertools.pairwise(cuts):
            r0, c0 = px[1] + int(oy[lo, t]), px[0] + int(ox[lo, t])
            out[lo:hi].add_(pad[lo:hi, :, r0: r0 + h, c0: c0 + w], alpha=float(k[t]))
    return out[torch.argsort(order).to(x.device)]


def plasma_fractal(u: torch.Tensor, size: int, decay: float) -> torch.Tensor:
    """Diamond-square height maps ``(N, size, size)`` in [0, 1] (ImageNet-C's fog fractal).

    ``size`` is a power of two; ``u`` ``(N, plasma_numel(size))`` holds uniforms in [-1, 1)
    consumed level by level. The map is periodic (the reference rolls its arrays). Each level
    works on dense grids (corners, centres, two edge sets) and interleaves them.
    """
    n = u.shape[0]
    m = torch.zeros(n, 1, 1, dtype=u.dtype, device=u.device)
    wibble, used = 100.0, 0
    while m.shape[-1] < size:
        g = m.shape[-1]
        noise = u[:, used: used + 3 * g * g].reshape(n, 3, g, g) * wibble * wibble
        used += 3 * g * g
        acc = m + m.roll(-1, 1)
        centre = (acc + acc.roll(-1, 2)) / 4 + noise[:, 0]
        top = (centre + centre.roll(1, 1) + m + m.roll(-1, 2)) / 4 + noise[:, 1]
        left = (centre + centre.roll(1, 2) + m + m.roll(-1, 1)) / 4 + noise[:, 2]
        even = torch.stack([m, top], -1).reshape(n, g, 2 * g)
        odd = torch.stack([left, centre], -1).reshape(n, g, 2 * g)
        m = torch.stack([even, odd], 2).reshape(n, 2 * g, 2 * g)
        wibble /= decay
    flat = m.reshape(n, -1)
    lo, hi = flat.amin(1, keepdim=True), flat.amax(1, keepdim=True)
    return ((flat - lo) / (hi - lo).clamp_min(1e-12)).view(n, size, size)


def plasma_numel(size: int) -> int:
    """How many uniforms :func:`plasma_fractal` consumes for a ``size`` map."""
    total, step = 0, size
    while step >= 2:
        total += 3 * (size // step) ** 2
        step //= 2
    return total


def next_pow2(n: int) -> int:
    return 1 << max(n - 1, 1).bit_length()


def rgb_to_gray(x: torch.Tensor) -> torch.Tensor:
    """OpenCV RGB2GRAY luma ``(N, 1, H, W)`` from ``(N, 3, H, W)``."""
    w = torch.tensor([0.299, 0.587, 0.114], device=x.device, dtype=x.dtype)
    return (x * w.view(1, 3, 1, 1)).sum(1, keepdim=True)


def unit_grid(h: int, w: int, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    """Row and column coordinates in MNIST-C's 28-pixel units: ``(H, 1)`` and ``(1, W)``."""
    rr = torch.linspace(0, 27, h, device=device).view(h, 1)
    cc = torch.linspace(0, 27, w, device=device).view(1, w)
    return rr, cc


def draw_lines(c0: torch.Tensor, r0: torch.Tensor, c1: torch.Tensor, r1: torch.Tensor,
               h: int, w: int) -> torch.Tensor:
    """The sum of MNIST-C ``line_from_points`` strokes for segments ``(N, K)`` -> ``(N, 1, H, W)``.

    A stroke's intensity is ``1 + log(1 - d / 2.3)`` clipped to [0, 1], with ``d`` the vertical
    distance to the line, between columns ``floor(c0)`` and ``ceil(c1)``; vertical segments
    draw nothing. Coordinates are in 28-pixel units, so strokes scale with the image. Only the
    few rows near the line in each column are evaluated, then scattered into place.
    """
    n, k = c0.shape
    rr_step, cc_step, reach = 27 / max(h - 1, 1), 27 / max(w - 1, 1), 2.3 * (1 - math.exp(-1))
    dc = c1 - c0
    vertical = dc == 0
    slope = ((r1 - r0) / torch.where(vertical, torch.ones_like(dc), dc))[..., None]
    # Each segment only touches pixel columns j with floor(c0) <= j * cc_step < ceil(c1).
    first = torch.ceil(c0.floor() / cc_step - 1e-6)
    last = torch.ceil(c1.ceil() / cc_step - 1e-6)  # exclusive
    span_c = int((last - first).amax().clamp_min(1)) if n * k else 1
    col = first[..., None] + torch.arange(span_c, device=c0.device)  # (N, K, Wn)
    cc = col * cc_step
    y = slope * (cc - c0[..., None]) + r0[..., None]  # line row, 28-units
    inside = (col < last[..., None]) & (col < w) & (col >= 0) & ~vertical[..., None]
    span_r = math.ceil(2 * reach / rr_step) + 2
    rows = torch.floor((y - reach) / rr_step)[..., None] + torch.arange(span_r, device=c0.device)
    dist = (rows * rr_step - y[..., None]).abs().clamp(max=2.3 - 1e-6)
    val = (torch.log1p(-dist / 2.3) + 1).clamp(0, 1)
    valid = inside[..., None] & (rows >= 0) & (rows < h)
    idx = rows.clamp(0, h - 1) * w + col.clamp(0, w - 1)[..., None]
    out = torch.zeros(n, h * w, dtype=c0.dtype, device=c0.device)
    out.scatter_add_(1, idx.long().reshape(n, -1), (val * valid).reshape(n, -1))
    return out.view(n, 1, h, w)


def draw_segments(p0: torch.Tensor, p1: torch.Tensor, weight: torch.Tensor, width: float,
                  h: int, w: int) -> torch.Tensor:
    """Soft segments ``(N, 1, H, W)``: the max over ``K`` segments ``(N, K, 2)`` endpoints.

    Endpoints are ``(col, row)`` pixels; intensity is ``weight`` ``(N, K)`` on the segment,
    falling linearly to 0 at perpendicular distance ``width``. Each segment is evaluated in a
    window around its midpoint only, then max-scattered into the image.
    """
    n, k, _ = p0.shape
    mid = ((p0 + p1) / 2).round()
    reach = math.ceil(float(((p1 - p0).norm(dim=-1) / 2).amax()) + width) if n * k else 0
    off = torch.arange(-reach, reach + 1, device=p0.device, dtype=p0.dtype)
    rows = mid[..., 1, None, None] + off.view(-1, 1)  # (N, K, S, 1)
    cols = mid[..., 0, None, None] + off.view(1, -1)  # (N, K, 1, S)
    d = (p1 - p0)[..., None, None, :]
    rel = torch.stack(torch.broadcast_tensors(cols, rows), -1) - p0[..., None, None, :]
    t = ((rel * d).sum(-1) / (d * d).sum(-1).clamp_min(1e-6)).clamp(0, 1)
    dist = (rel - t[..., None] * d).norm(dim=-1)
    val = (1 - dist / width).clamp(0, 1) * weight[..., None, None]
    ok = (rows >= 0) & (rows < h) & (cols >= 0) & (cols < w)
    idx = (rows.clamp(0, h - 1) * w + cols.clamp(0, w - 1)).long().expand_as(val)
    out = torch.zeros(n, h * w, dtype=p0.dtype, device=p0.device)
    out.scatter_reduce_(1, idx.reshape(n, -1), (val * ok).reshape(n, -1), reduce="amax")
    return out.view(n, 1, h, w)


def sobel(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Unnormalized 3x3 Sobel derivatives ``(d/dcol, d/drow)`` with mirrored borders."""
    smooth = torch.tensor([1.0, 2.0, 1.0], device=x.device)
    diff = torch.tensor([-1.0, 0.0, 1.0], device=x.device)
    gx = conv_separable(x, smooth, diff, mode="reflect")
    gy = conv_separable(x, diff, smooth, mode="reflect")
    return gx, gy


def canny(x: torch.Tensor, low: float, high: float, *, sigma: float = 0.0,
          l1: bool = False, exclude_border: bool = False) -> torch.Tensor:
    """Canny edges ``(N, 1, H, W)`` bool of single-channel images ``(N, 1, H, W)``.

    Optional Gaussian pre-smoothing normalized at the borders (skimage), Sobel gradients
    (L2 or, like OpenCV, L1 magnitude), non-maximum suppression along the gradient quantized
    to four directions, and hysteresis: weak edges (> ``low``) survive when 8-connected to a
    strong one (> ``high``).
    """
    if sigma > 0:
        k = gaussian_kernel1d(sigma, device=x.device)
        num = conv_separable(x, k, k, mode="constant")
        den = conv_separable(torch.ones_like(x[:1]), k, k, mode="constant")
        x = num / den
    gx, gy = sobel(x)
    mag = gx.abs() + gy.abs() if l1 else torch.hypot(gx, gy)
    h, w = x.shape[-2:]
    pad = F.pad(mag, (1, 1, 1, 1))

    def at(dr: int, dc: int) -> torch.Tensor:
        return pad[..., 1 + dr: 1 + dr + h, 1 + dc: 1 + dc + w]

    angle = torch.rad2deg(torch.atan2(gy, gx)) % 180
    sector = (((angle + 22.5) // 45) % 4).long()
    keep = torch.zeros_like(mag, dtype=torch.bool)
    for s, (dr, dc) in enumerate([(0, 1), (1, 1), (1, 0), (1, -1)]):
        peak = (mag > at(-dr, -dc)) & (mag >= at(dr, dc))
        keep |= (sector == s) & peak
    weak = keep & (mag > low)
    edges = keep & (mag > high)
    if exclude_border:
        frame = torch.zeros(h, w, dtype=torch.bool, device=x.device)
        frame[1:-1, 1:-1] = True
        weak, edges = weak & frame, edges & frame
    for _ in range(h * w):
        grown = edges | (weak & dilate3(edges))
        if torch.equal(grown, edges):
            break
        edges = grown
    return edges


def dilate3(b: torch.Tensor) -> torch.Tensor:
    """Binary 3x3 dilation (8-connectivity) of ``(..., H, W)`` bools."""
    rows = b.clone()
    rows[..., 1:, :] |= b[..., :-1, :]
    rows[..., :-1, :] |= b[..., 1:, :]
    out = rows.clone()
    out[..., :, 1:] |= rows[..., :, :-1]
    out[..., :, :-1] |= rows[..., :, 1:]
    return out


def chamfer_distance(seeds: torch.Tensor, limit: int) -> torch.Tensor:
    """Approximate Euclidean distance ``(N, 1, H, W)`` to the nearest ``True`` in ``seeds``.

    A 3x3 chamfer (steps 1 and sqrt 2) iterated ``limit`` times; distances are capped at
    ``limit`` (images without seeds are ``limit`` everywhere).
    """
    big = float(limit)
    d = torch.where(seeds, 0.0, big).float()
    diag = math.sqrt(2)
    for _ in range(limit):
        p = F.pad(d, (1, 1, 1, 1), value=big)
        h, w = d.shape[-2:]
        cands = [p[..., 1 + dr: 1 + dr + h, 1 + dc: 1 + dc + w] + (diag if dr and dc else 1.0)
                 for dr in (-1, 0, 1) for dc in (-1, 0, 1) if dr or dc]
        d = torch.minimum(d, torch.stack(cands).amin(0))
    return d.clamp(max=big)


def equalize_hist(v: torch.Tensor) -> torch.Tensor:
    """OpenCV ``equalizeHist`` per image on integer-valued ``(N, 1, H, W)`` floats in [0, 255]."""
    n = v.shape[0]
    idx = v.reshape(n, -1).round().long().clamp(0, 255)
    hist = torch.zeros(n, 256, device=v.device).scatter_add_(1, idx, torch.ones_like(idx,
                                                                          dtype=torch.float))
    cdf = hist.cumsum(1)
    first = hist.gather(1, idx.amin(1, keepdim=True))
    total = float(idx.shape[1])
    lut = ((cdf - first) * 255 / (total - first).clamp_min(1)).round().clamp(0, 255)
    flat = torch.where(first == total, idx.float(), lut.gather(1, idx))
    return flat.view_as(v)
