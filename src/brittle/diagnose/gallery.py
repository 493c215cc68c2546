"""A PNG gallery of the top label suspects: each image with its given and predicted label."""

from __future__ import annotations

import math
from pathlib import Path

import torch

from brittle._utils.pyplot import imshow, pyplot, save_png
from brittle.diagnose.suspects import SuspectReport
from brittle.errors import BrittleError


def suspect_gallery(report: SuspectReport, images: torch.Tensor, path: str | Path, *,
                    count: int = 32, columns: int = 8) -> Path:
    """Draw the ``count`` most suspicious images in a grid and write it as a PNG, atomically.

    Each tile shows the image (row index ``#i``), its given label and the model's class with
    its probability. Drawn with matplotlib's Agg backend (no display needed); PNG is lossless.

    Args:
        report: The :class:`SuspectReport` to draw.
        images: ``(N, C, H, W)`` images in ``[0, 1]``, rows matching the report's indices.
        path: Where to write the PNG.
        count: How many suspects to show (fewer if there are fewer).
        columns: Tiles per row.

    Returns:
        ``path``.

    Example:
        >>> suspect_gallery(report, x, "runs/suspects/gallery.png")  # doctest: +SKIP
    """
    if images.ndim != 4 or len(images) != report.n:
        raise BrittleError(f"gallery needs the {report.n} images (N, C, H, W) the report "
                           f"scored, got shape {tuple(images.shape)}")
    plt = pyplot()
    shown = min(count, len(report))
    cols = max(1, min(columns, shown))
    rows = max(1, math.ceil(shown / cols))
    fig, axes = plt.subplots(rows, cols, figsize=(1.8 * cols, 2.2 * rows + 0.4), squeeze=False,
                             layout="constrained")
    for ax in axes.flat:
        ax.axis("off")
    for tile, row in enumerate(report.rows(shown)):
        ax = axes.flat[tile]
        imshow(ax, images[row["index"]])
        ax.set_title(f"#{row['index']} given {row['given_name']}\n"
                     f"model {row['predicted_name']} {100 * row['p_predicted']:.0f}%",
                     fontsize=7)
    if shown == 0:
        axes.flat[0].text(0.5, 0.5, "no suspects", ha="center", va="center")
    fig.suptitle(f"top {shown} of {len(report)} label suspects ({report.method}, "
                 f"ranked by {report.rank_by})", fontsize=9)
    return save_png(plt, fig, path, tight_layout=False)  # the layout is "constrained"
