"""matplotlib for PNG files: the Agg backend (no display needed), imported only when drawing.

Shared by the attack grid, the explanation figures and the suspect gallery; the HTML report's
figures (``brittle.report.plots``) use their own isolated style instead.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from brittle._utils.atomic import atomic_path


def pyplot() -> Any:
    """``matplotlib.pyplot`` on the Agg backend."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def imshow(ax: Any, image: torch.Tensor) -> None:
    """Draw an image ``(C, H, W)`` in [0, 1] (grey for one channel), pixels unsmoothed."""
    image = image.detach().cpu().float().clamp(0, 1)
    array = image[0].numpy() if image.shape[0] == 1 else image.permute(1, 2, 0).numpy()
    ax.imshow(array, cmap="gray" if image.shape[0] == 1 else None, vmin=0, vmax=1,
              interpolation="nearest")


def save_png(plt: Any, fig: Any, path: str | Path, *, tight_layout: bool = True) -> Path:
    """Write ``fig`` as a PNG atomically and close it."""
    if tight_layout:
        fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=110)
    plt.close(fig)
    return Path(path)
