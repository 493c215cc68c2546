"""Corruptions: contracts, determinism, chunking, severity order and a visual sheet per suite.

Runs on real MNIST and CIFAR-10 test images. ``BRITTLE_WRITE_DOC_IMAGES=1`` also writes the
sheets to ``docs/images/corruptions-{suite}.png``.
"""

from __future__ import annotations

import colorsys
import io
import itertools
import math
import os
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import pytest
import torch
from PIL import Image

from brittle import corruptions as C
from brittle import data
from brittle.errors import BrittleError

ENTRIES = [(suite, name) for suite, names in C.SUITES.items() for name in names]
IDS = [f"{s}/{n}" for s, n in ENTRIES]
DATASET = {"mnist-c": "mnist", "cifar10-c": "cifar10"}

# Tables whose mean distance to the clean image is not monotone in severity by construction;
# docs/corruptions.md ("Severity order") says why for each.
NOT_MONOTONE = {
    ("cifar10-c", "saturate"), ("cifar10-c", "elastic_transform"), ("cifar10-c", "frost"),
    ("cifar10-c", "glass_blur"), ("cifar10-c", "spatter"), ("mnist-c", "spatter"),
}


@pytest.fixture(scope="module")
def images(data_dir: Path) -> dict[str, torch.Tensor]:
    return {suite: data.load(ds, "test", data_dir=data_dir).subset(16, seed=0).tensors()[0]
            for suite, ds in DATASET.items()}


def test_suites_and_registry() -> None:
    assert len(C.SUITES["mnist-c"]) == 15 and len(C.SUITES["cifar10-c"]) == 19
    assert sorted(C.CORRUPTIONS.names()) == sorted(IDS)
    assert C.PARAMS_VERSION == {"mnist-c": "mnist-c/1", "cifar10-c": "cifar10-c/1"}
    for suite, name in ENTRIES:
        table = C.params(name, suite)
        assert sorted(table["severities"]) == [1, 2, 3, 4, 5]
        assert table["version"] == C.PARAMS_VERSION[suite]
        assert "\n" not in C.describe(name) and C.describe(name)
    assert C.params("fog", "mnist-c")["published_severity"] == 5
    assert C.params("shot_noise", "cifar10-c")["severities"][5] == {"photons": 50}


@pytest.mark.parametrize(("suite", "name"), ENTRIES, ids=IDS)
def test_contract(images: dict[str, torch.Tensor], suite: str, name: str) -> None:
    x = images[suite]
    before = x.clone()
    y = C.corrupt(x, name, 3, seed=0)
    assert torch.equal(x, before), "input mutated"
    assert y.shape == x.shape and y.dtype == x.dtype and y.device == x.device
    assert bool(torch.isfinite(y).all()) and float(y.min()) >= 0 and float(y.max()) <= 1
    assert not torch.equal(y, x), "severity 3 left every image unchanged"
    assert torch.equal(C.corrupt(x, name, 3, seed=0), y), "not deterministic for a seed"
    if C.get(name, suite).random:
        assert not torch.equal(C.corrupt(x, name, 3, seed=1), y), "seed has no effect"
    y64 = C.corrupt(x.double(), name, 3, seed=0)
    assert y64.dtype == torch.float64 and torch.allclose(y64.float(), y, atol=0.02)


@pytest.mark.parametrize(("suite", "name"), ENTRIES, ids=IDS)
def test_chunked_equals_one_shot(images: dict[str, torch.Tensor], suite: str, name: str
                                 ) -> None:
    x = images[suite][:6]
    whole = C.corrupt(x, name, 4, seed=3)
    parts = [C.corrupt(x[i: i + k], name, 4, seed=3, start=i) for i, k in ((0, 1), (1, 3), (4, 2))]
    torch.testing.assert_close(torch.cat(parts), whole, atol=1e-5, rtol=0)


@pytest.mark.parametrize(("suite", "name"), ENTRIES, ids=IDS)
def test_severity_moves_away_from_clean(images: dict[str, torch.Tensor], suite: str, name: str
                                        ) -> None:
    x = images[suite]
    dist = [float((C.corrupt(x, name, s, seed=0) - x).abs().mean()) for s in range(1, 6)]
    assert dist[0] > 0
    if (suite, name) in NOT_MONOTONE:
        assert dist[-1] > 0
        return
    for lo, hi in itertools.pairwise(dist):
        assert hi >= lo * 0.98, f"mean |x' - x| by severity: {dist}"


@pytest.mark.parametrize("severity", [0, 6, 2.0, True])
def test_bad_severity(images: dict[str, torch.Tensor], severity: object) -> None:
    with pytest.raises(BrittleError, match="severity"):
        C.corrupt(images["mnist-c"], "fog", severity)  # type: ignore[arg-type]


def test_bad_inputs(images: dict[str, torch.Tensor]) -> None:
    gray, rgb = images["mnist-c"], images["cifar10-c"]
    with pytest.raises(BrittleError, match="3-channel"):
        C.corrupt(gray, "fog", 1, suite="cifar10-c")
    with pytest.raises(BrittleError, match="1-channel"):
        C.corrupt(rgb, "fog", 1, suite="mnist-c")
    with pytest.raises(BrittleError, match="no corruption suite"):
        C.corrupt(torch.rand(2, 2, 28, 28), "fog", 1)
    bad = gray.clone()
    bad[0, 0, 0, 0] = float("nan")
    with pytest.raises(BrittleError, match="NaN"):
        C.corrupt(bad, "fog", 1)
    with pytest.raises(BrittleError, match=r"\[0, 1\]"):
        C.corrupt(gray * 2, "fog", 1)
    with pytest.raises(BrittleError, match="known: shot_noise"):
        C.corrupt(gray, "frost", 1)
    with pytest.raises(BrittleError, match="unknown corruption suite"):
        C.corrupt(gray, "fog", 1, suite="imagenet-c")
    with pytest.raises(BrittleError, match=r"\(N, C, H, W\)"):
        C.corrupt(gray[0], "fog", 1)
    assert C.suite_for((1, 28, 28)) == "mnist-c" and C.suite_for((5, 3, 32, 32)) == "cifar10-c"
    assert C.corrupt(gray[:0], "fog", 1).shape == (0, 1, 28, 28)


def test_other_sizes_work() -> None:
    gen = torch.Generator().manual_seed(0)
    for suite, shape in (("mnist-c", (2, 1, 40, 36)), ("cifar10-c", (2, 3, 24, 20))):
        x = torch.rand(shape, generator=gen)
        for name in C.SUITES[suite]:
            y = C.corrupt(x, name, 5)
            assert y.shape == x.shape and float(y.min()) >= 0 and float(y.max()) <= 1, name


def test_corruption_error() -> None:
    out = C.corruption_error({"fog": [0.1, 0.2, 0.3], "snow": [0.2, 0.2, 0.2]},
                             {"fog": [0.2, 0.4, 0.6], "snow": [0.3, 0.3, 0.6]},
                             clean_error=0.05, reference_clean_error=0.1)
    assert out["ce"] == pytest.approx({"fog": 0.5, "snow": 0.5})
    assert out["mce"] == pytest.approx(0.5)
    assert out["relative_ce"]["fog"] == pytest.approx(0.45 / 0.9)
    assert out["relative_ce"]["snow"] == pytest.approx(0.45 / 0.9)
    with pytest.raises(BrittleError, match="no reference"):
        C.corruption_error({"fog": [0.1]}, {"snow": [0.1]})
    with pytest.raises(BrittleError, match="severities"):
        C.corruption_error({"fog": [0.1]}, {"fog": [0.1, 0.2]})


def render_sheet(x: torch.Tensor, suite: str, path: Path) -> None:
    """One row per corruption: the clean image, then severities 1..5."""
    names = C.SUITES[suite]
    fig, axes = plt.subplots(len(names), 6, figsize=(6 * 1.1, len(names) * 1.1))
    for row, name in enumerate(names):
        tiles = [x] + [C.corrupt(x, name, s, seed=0) for s in range(1, 6)]
        for col, tile in enumerate(tiles):
            ax = axes[row, col]
            img = tile[0].permute(1, 2, 0).numpy()
            ax.imshow(img[..., 0] if img.shape[-1] == 1 else img, cmap="gray", vmin=0, vmax=1,
                      interpolation="nearest")
            ax.set_xticks([])
            ax.set_yticks([])
            if row == 0:
                ax.set_title("clean" if col == 0 else f"s{col}", fontsize=8)
        axes[row, 0].set_ylabel(name, fontsize=7, rotation=0, ha="right", va="center")
    fig.tight_layout()
    fig.savefig(path, dpi=80)
    plt.close(fig)


@pytest.mark.parametrize("suite", list(C.SUITES))
def test_render_sheet(images: dict[str, torch.Tensor], suite: str, tmp_path: Path) -> None:
    path = tmp_path / f"corruptions-{suite}.png"
    render_sheet(images[suite][3:4], suite, path)
    assert path.stat().st_size > 10_000
    if os.environ.get("BRITTLE_WRITE_DOC_IMAGES") == "1":
        docs = Path(__file__).resolve().parents[1] / "docs" / "images"
        docs.mkdir(parents=True, exist_ok=True)
        (docs / path.name).write_bytes(path.read_bytes())


# Cross-checks of the building blocks against the libraries the references used.


def test_gaussian_blur_matches_scipy(images: dict[str, torch.Tensor]) -> None:
    ndimage = pytest.importorskip("scipy.ndimage")
    from brittle.corruptions import functional as Fc

    x = images["cifar10-c"][:2].double()
    for sigma in (0.4, 1.0, 4.0):
        ref = ndimage.gaussian_filter(x.numpy(), sigma=(0, 0, sigma, sigma), mode="nearest",
                                      truncate=4.0)
        got = Fc.gaussian_blur(x.float(), sigma)
        torch.testing.assert_close(got, torch.from_numpy(ref).float(), atol=1e-5, rtol=0)


def test_clipped_zoom_matches_scipy(images: dict[str, torch.Tensor]) -> None:
    ndimage = pytest.importorskip("scipy.ndimage")
    from brittle.corruptions import functional as Fc

    img = images["mnist-c"][0, 0].double().numpy()
    for factor in (1.06, 1.25, 1.75, 2.25):
        h = img.shape[0]
        crop = int(np.ceil(h / factor))
        top = (h - crop) // 2
        zoomed = ndimage.zoom(img[top: top + crop, top: top + crop], factor, order=1)
        trim = (zoomed.shape[0] - h) // 2
        ref = zoomed[trim: trim + h, trim: trim + h]
        got = Fc.clipped_zoom(images["mnist-c"][:1], factor)[0, 0]
        torch.testing.assert_close(got, torch.from_numpy(ref).float(), atol=1e-5, rtol=0)


@pytest.mark.parametrize("name", ["brightness", "saturate"])
def test_hsv_edits_match_colorsys(images: dict[str, torch.Tensor], name: str) -> None:
    x = images["cifar10-c"][:2]
    x = torch.cat([x, torch.full((1, 3, 32, 32), 0.5)])  # a grey image: hue 0 in HSV
    for severity in (1, 4, 5):
        p = C.params(name, "cifar10-c")["severities"][severity]
        got = C.corrupt(x, name, severity)
        pixels = x.permute(0, 2, 3, 1).reshape(-1, 3).double().tolist()
        ref = []
        for r, g, b in pixels:
            hue, sat, val = colorsys.rgb_to_hsv(r, g, b)
            if name == "brightness":
                val = min(val + p["shift"], 1.0)
            else:
                sat = min(max(sat * p["scale"] + p["shift"], 0.0), 1.0)
            ref.append(colorsys.hsv_to_rgb(hue, sat, val))
        want = torch.tensor(ref).view(3, 32, 32, 3).permute(0, 3, 1, 2).float()
        torch.testing.assert_close(got, want, atol=1e-5, rtol=0)


def test_pixelate_and_jpeg_match_pillow(images: dict[str, torch.Tensor]) -> None:
    x = images["cifar10-c"][:3]
    arrays = (x * 255).round().byte().permute(0, 2, 3, 1).numpy()
    for severity, (fraction, quality) in enumerate(zip([0.95, 0.9, 0.85, 0.75, 0.65],
                                                       [80, 65, 58, 50, 40], strict=True), 1):
        pix, jpg = [], []
        for arr in arrays:
            img = Image.fromarray(arr)
            small = img.resize((int(32 * fraction),) * 2, Image.Resampling.BOX)
            pix.append(np.asarray(small.resize((32, 32), Image.Resampling.BOX)))
            buf = io.BytesIO()
            img.save(buf, "JPEG", quality=quality)
            jpg.append(np.asarray(Image.open(buf)))
        want_pix = torch.from_numpy(np.stack(pix)).permute(0, 3, 1, 2).float() / 255
        want_jpg = torch.from_numpy(np.stack(jpg)).permute(0, 3, 1, 2).float() / 255
        xq = torch.from_numpy(arrays).permute(0, 3, 1, 2).float() / 255
        # Pillow rounds to 8 bits after each pass; we keep floats.
        torch.testing.assert_close(C.corrupt(xq, "pixelate", severity), want_pix,
                                   atol=2.5 / 255, rtol=0)
        torch.testing.assert_close(C.corrupt(xq, "jpeg_compression", severity), want_jpg,
                                   atol=1e-6, rtol=0)


def test_motion_blur_matches_naive_imagemagick_loop(images: dict[str, torch.Tensor]) -> None:
    from brittle.corruptions import functional as Fc

    x = images["mnist-c"][:4]
    angles = torch.tensor([-44.0, -3.0, 17.5, 40.0])
    radius, sigma = 10, 3
    got = Fc.motion_blur(x, radius, sigma, angles)
    width = 2 * radius + 1
    k = [math.exp(-(j * j) / (2 * sigma * sigma)) for j in range(width)]
    k = [v / sum(k) for v in k]
    img = x[:, 0].double()
    want = torch.zeros_like(img)
    for n, a in enumerate(angles.tolist()):
        for j in range(width):
            ox = math.ceil(j * math.cos(math.radians(a)) - 0.5)
            oy = math.ceil(j * math.sin(math.radians(a)) - 0.5)
            rows = (torch.arange(28) + oy).clamp(0, 27)
            cols = (torch.arange(28) + ox).clamp(0, 27)
            want[n] += k[j] * img[n][rows][:, cols]
    torch.testing.assert_close(got[:, 0], want.float(), atol=1e-5, rtol=0)


def test_draw_lines_matches_full_grid_formula() -> None:
    from brittle.corruptions import functional as Fc

    gen = torch.Generator().manual_seed(0)
    c0 = torch.rand(3, 4, generator=gen) * 10
    c1 = c0 + torch.rand(3, 4, generator=gen) * 15
    r0, r1 = torch.rand(3, 4, generator=gen) * 27, torch.rand(3, 4, generator=gen) * 27
    got = Fc.draw_lines(c0, r0, c1, r1, 28, 28)[:, 0]
    rr = torch.arange(28.0).view(28, 1)
    cc = torch.arange(28.0).view(1, 28)
    want = torch.zeros(3, 28, 28)
    for n in range(3):
        for i in range(4):
            m = (r1[n, i] - r0[n, i]) / (c1[n, i] - c0[n, i])
            d = (rr - (m * (cc - c0[n, i]) + r0[n, i])).abs().clamp(max=2.3 - 1e-6)
            v = (torch.log(1 - d / 2.3) + 1).clamp(0, 1)
            v[:, : int(torch.floor(c0[n, i]))] = 0
            v[:, int(torch.ceil(c1[n, i])):] = 0
            want[n] += v
    torch.testing.assert_close(got, want, atol=1e-5, rtol=0)


def test_canny_finds_the_outline_of_a_square() -> None:
    from brittle.corruptions import functional as Fc

    x = torch.zeros(1, 1, 28, 28)
    x[..., 8:20, 8:20] = 1
    edges = Fc.canny(x, 0.1, 0.2, sigma=1.0, exclude_border=True)[0, 0]
    assert not edges[11:17, 11:17].any() and not edges[:5].any() and not edges[24:].any()
    for side in (edges[6:10, 12], edges[18:22, 12], edges[12, 6:10], edges[12, 18:22]):
        assert side.sum() == 1
