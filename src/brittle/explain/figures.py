"""PNG figures of explanations, drawn with matplotlib's Agg backend (imported lazily).

This is the only place where maps are normalized, and only for display: signed maps are scaled
by their 99th percentile of ``|map|`` into [-1, 1] (red raises the target score, blue lowers
it), magnitudes by their 99th percentile into [0, 1].
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch

from brittle._utils.pyplot import imshow, pyplot, save_png
from brittle.explain.base import Explanation
from brittle.explain.functional import border_mask, normalize_for_display

if TYPE_CHECKING:
    from brittle.explain.compare import Comparison
    from brittle.explain.rootcause import PairDiagnosis
    from brittle.explain.sanity import SanityResult

HEAT = "jet"
SIGNED = "bwr"


def _rgb(image: torch.Tensor) -> Any:
    image = image.detach().cpu().float().clamp(0, 1)
    return (image.expand(3, -1, -1) if image.shape[0] == 1 else image).permute(1, 2, 0).numpy()


def show_image(ax: Any, image: torch.Tensor, title: str = "") -> None:
    """Draw an image ``(C, H, W)`` in [0, 1]."""
    imshow(ax, image)
    _finish(ax, title)


def show_signed(ax: Any, attribution: torch.Tensor, title: str = "") -> None:
    """Draw a signed map ``(C, H, W)`` summed over channels, red positive and blue negative."""
    scaled = normalize_for_display(attribution.detach().cpu().sum(0)[None], signed=True)[0]
    ax.imshow(scaled.numpy(), cmap=SIGNED, vmin=-1, vmax=1, interpolation="nearest")
    _finish(ax, title)


def show_magnitude(ax: Any, attribution: torch.Tensor, title: str = "", *,
                   cmap: str = HEAT) -> None:
    """Draw ``|map|`` summed over channels ``(C, H, W)``, scaled to [0, 1] for display."""
    scaled = normalize_for_display(attribution.detach().cpu().abs().sum(0)[None])[0]
    ax.imshow(scaled.numpy(), cmap=cmap, vmin=0, vmax=1, interpolation="nearest")
    _finish(ax, title)


def show_overlay(ax: Any, image: torch.Tensor, attribution: torch.Tensor, title: str = "", *,
                 alpha: float = 0.5) -> None:
    """Draw ``|map|`` as a heat map over the image (shown grey)."""
    grey = _rgb(image).mean(-1)
    ax.imshow(grey, cmap="gray", vmin=0, vmax=1, interpolation="nearest")
    scaled = normalize_for_display(attribution.detach().cpu().abs().sum(0)[None])[0]
    ax.imshow(scaled.numpy(), cmap=HEAT, vmin=0, vmax=1, alpha=alpha, interpolation="bilinear")
    _finish(ax, title)


def _finish(ax: Any, title: str) -> None:
    if title:
        ax.set_title(title, fontsize=8)
    ax.axis("off")


def _label_rows(axes: Any, labels: Sequence[str]) -> None:
    for row, label in enumerate(labels):
        axes[row][0].text(-0.12, 0.5, label, transform=axes[row][0].transAxes, rotation=90,
                          va="center", ha="right", fontsize=9)


def _name(class_names: Sequence[str] | None, c: int) -> str:
    return class_names[c] if class_names else str(c)


def is_signed(explanation: Explanation) -> bool:
    """Gradient methods give signed maps; CAMs are non-negative."""
    return explanation.cam is None


def explanation_grid(x: torch.Tensor, explanation: Explanation, path: str | Path, *,
                     class_names: Sequence[str] | None = None, count: int = 8) -> Path:
    """One column per image (the first ``count``): image, map, overlay and, for signed
    (gradient) maps, the positive and negative parts shown apart."""
    plt = pyplot()
    n = min(count, len(explanation))
    signed = is_signed(explanation)
    rows = ["image", "map", "overlay", *(["positive", "negative"] if signed else [])]
    fig, axes = plt.subplots(len(rows), n, figsize=(1.7 * n + 0.4, 1.75 * len(rows)),
                             squeeze=False)
    pos, neg = explanation.positive(), explanation.negative()
    for col in range(n):
        image, maps = x[col], explanation.maps[col]
        show_image(axes[0][col], image, _name(class_names, int(explanation.target[col])))
        (show_signed if signed else show_magnitude)(axes[1][col], maps)
        show_overlay(axes[2][col], image, maps)
        if signed:
            show_magnitude(axes[3][col], pos[col], cmap="Reds")
            show_magnitude(axes[4][col], neg[col], cmap="Blues")
    _label_rows(axes, rows)
    fig.suptitle(f"{explanation.method} (explained class above each image)", fontsize=10)
    return save_png(plt, fig, path)


def single_panel(kind: str, x: torch.Tensor, explanation: Explanation, index: int,
                 path: str | Path, *, title: str = "") -> Path:
    """One image's ``kind`` panel (``map``, ``overlay``, ``positive`` or ``negative``) as its own
    PNG."""
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(3.2, 3.4))
    maps = explanation.maps[index]
    if kind == "map":
        (show_signed if is_signed(explanation) else show_magnitude)(ax, maps, title)
    elif kind == "overlay":
        show_overlay(ax, x[index], maps, title)
    elif kind == "positive":
        show_magnitude(ax, explanation.positive()[index], title, cmap="Reds")
    elif kind == "negative":
        show_magnitude(ax, explanation.negative()[index], title, cmap="Blues")
    else:
        raise ValueError(f"unknown panel {kind!r}")
    return save_png(plt, fig, path)


def comparison_grid(comparison: Comparison, path: str | Path, *,
                    class_names: Sequence[str] | None = None, count: int = 4) -> Path:
    """Rows: image, then one overlay row per method; columns: clean | adversarial for each of the
    first ``count`` images (clean explained for its true class, adversarial for its new one)."""
    plt = pyplot()
    n = min(count, len(comparison.labels))
    methods = list(comparison.clean)
    rows = ["image", *methods]
    fig, axes = plt.subplots(len(rows), 2 * n, figsize=(1.8 * 2 * n + 0.4, 1.9 * len(rows)),
                             squeeze=False)
    for i in range(n):
        sides = (("clean", comparison.x, comparison.labels, comparison.clean),
                 ("adversarial", comparison.x_adv, comparison.adv_class, comparison.adversarial))
        for j, (side, images, classes, explained) in enumerate(sides):
            col = 2 * i + j
            show_image(axes[0][col], images[i], f"{side}: {_name(class_names, int(classes[i]))}")
            for row, method in enumerate(methods, start=1):
                maps = explained[method].maps[i]
                if method == "saliency":
                    show_signed(axes[row][col], maps)
                else:
                    show_overlay(axes[row][col], images[i], maps)
    _label_rows(axes, rows)
    fig.suptitle("clean (true class) | adversarial (adversarial class)", fontsize=10)
    return save_png(plt, fig, path)


def sanity_figure(result: SanityResult, path: str | Path) -> Path:
    """Spearman correlation of absolute maps (solid) and SSIM (dashed) against how many layers
    are randomized, one colour per method, with the pass threshold."""
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(7.5, 3.6))
    layers: list[str] = []
    for name, m in result.methods.items():
        steps = range(1, len(m.layers) + 1)
        line, = ax.plot(steps, m.spearman_abs, marker="o",
                        label=f"{name} ({'pass' if m.passed else 'FAIL'})")
        ax.plot(steps, m.ssim, linestyle="--", color=line.get_color(), alpha=0.6)
        layers = m.layers
    ax.axhline(result.threshold, color="grey", linewidth=1, linestyle=":")
    ax.set_xticks(range(1, len(layers) + 1), layers, rotation=45, ha="right", fontsize=7)
    ax.set_xlabel("randomized down to layer")
    ax.set_ylabel("similarity to trained maps")
    ax.set_ylim(-0.2, 1.05)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, title="Spearman |map| (solid)\nSSIM (dashed)", title_fontsize=7,
              loc="upper left", bbox_to_anchor=(1.01, 1.0))
    return save_png(plt, fig, path)


def rootcause_figure(diagnosis: PairDiagnosis, path: str | Path) -> Path:
    """Errors | correct: the mean image, then each method's mean attribution density with the
    border band outlined and the mean border share in the title."""
    plt = pyplot()
    methods = list(diagnosis.mean_maps)
    rows = ["mean image", *methods]
    fig, axes = plt.subplots(len(rows), 2, figsize=(4.6, 2.2 * len(rows)), squeeze=False)
    a, b = diagnosis.class_names
    groups = (("errors", f"{a} read as {b} (n={diagnosis.n_errors})"),
              ("correct", f"{a} read as {a} (n={diagnosis.n_correct})"))
    for col, (group, title) in enumerate(groups):
        show_image(axes[0][col], diagnosis.mean_images[group], title)
        for row, method in enumerate(methods, start=1):
            density = diagnosis.mean_maps[method][group]
            share = diagnosis.border_share[method][group]["mean"]
            show_magnitude(axes[row][col], density[None], f"border share {share:.2f}")
            _outline_band(axes[row][col], density.shape, diagnosis.band)
    _label_rows(axes, rows)
    return save_png(plt, fig, path)


def _outline_band(ax: Any, shape: Sequence[int], band: int) -> None:
    h, w = int(shape[0]), int(shape[1])
    inner = ~border_mask(h, w, band)
    ax.contour(inner.float().numpy(), levels=[0.5], colors="white", linewidths=0.8)
