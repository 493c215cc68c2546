"""PNG figures for attack results, drawn with matplotlib's Agg backend (no display needed).

Figures are written atomically. PNG is lossless, so what a reader sees is what the model saw.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import torch

from brittle._utils.pyplot import imshow, pyplot, save_png
from brittle.attacks.base import AttackResult


def adversarial_grid(result: AttackResult, x: torch.Tensor, class_names: Sequence[str],
                     path: str | Path, *, count: int = 8, amplify: float = 10.0) -> Path:
    """Rows of original / perturbation (amplified, centred on grey) / adversarial image.

    Shows the first ``count`` samples the attack succeeded on (or the first ones if none), each
    titled with the prediction and its softmax confidence.
    """
    plt = pyplot()
    order = torch.nonzero(result.success & result.clean_correct).flatten().tolist()
    chosen = (order or list(range(len(x))))[:count]
    fig, axes = plt.subplots(3, max(len(chosen), 1), figsize=(1.6 * max(len(chosen), 1), 5.4),
                             squeeze=False)
    clean_p = result.clean_logits.softmax(1).cpu()
    adv_p = result.logits.softmax(1).cpu()
    for col, i in enumerate(chosen):
        clean, adv = x[i].cpu(), result.x_adv[i].cpu()
        delta = (0.5 + amplify * (adv - clean)).clamp(0, 1)
        panels = ((clean, _title(clean_p[i], class_names)), (delta, f"δ x{amplify:g}"),
                  (adv, _title(adv_p[i], class_names)))
        for row, (image, title) in enumerate(panels):
            ax = axes[row][col]
            imshow(ax, image)
            ax.set_title(title, fontsize=8)
            ax.axis("off")
    for row, label in enumerate(("original", "perturbation", "adversarial")):
        axes[row][0].text(-0.15, 0.5, label, transform=axes[row][0].transAxes, rotation=90,
                          va="center", ha="right", fontsize=9)
    fig.suptitle(f"{result.attack} ({result.norm}, eps={result.eps:g})", fontsize=10)
    return save_png(plt, fig, path)


def curve_plot(eps: Sequence[float], accuracy: Sequence[float], low: Sequence[float],
               high: Sequence[float], path: str | Path, *, title: str) -> Path:
    """Robust accuracy against eps with its 95% confidence band."""
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(5, 3.4))
    ax.fill_between(eps, [100 * v for v in low], [100 * v for v in high], alpha=0.25,
                    label="95% CI")
    ax.plot(eps, [100 * v for v in accuracy], marker="o", label="robust accuracy")
    ax.set_xlabel("eps")
    ax.set_ylabel("accuracy (%)")
    ax.set_ylim(0, 100)
    ax.grid(alpha=0.3)
    ax.set_title(title, fontsize=10)
    ax.legend(fontsize=8)
    return save_png(plt, fig, path)


def _title(probs: torch.Tensor, class_names: Sequence[str]) -> str:
    conf, pred = probs.max(0)
    return f"{class_names[int(pred)]} {100 * float(conf):.0f}%"
