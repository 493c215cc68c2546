"""Reliability diagrams (DeGroot & Fienberg 1983; Niculescu-Mizil & Caruana 2005; Guo et al.
2017): per equal-width confidence bin, the accuracy against the mean confidence.

:func:`reliability_diagram` returns plain JSON values, and :func:`plot_reliability` draws from that
dict alone, so a report can re-render the figure from its results file.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping
from typing import Any

import torch

from brittle.calibration import functional as CF
from brittle.errors import BrittleError

_KEYS = ("edges", "accuracy", "confidence", "counts")


def reliability_diagram(logits: torch.Tensor, labels: torch.Tensor, *,
                        bins: int = 15) -> dict[str, list[Any]]:
    """Top-label reliability diagram on right-closed equal-width bins (as :func:`~brittle.
    calibration.functional.ece`).

    Args:
        logits: Logits ``(N, K)``.
        labels: True classes ``(N,)`` int64.
        bins: Number of equal-width bins of (0, 1].

    Returns:
        ``{"edges": bins + 1 floats, "accuracy": per-bin accuracy, "confidence": per-bin mean
        confidence (both ``None`` for empty bins), "counts": per-bin sample counts (ints)}``.

    Example:
        >>> d = reliability_diagram(torch.tensor([[2.0, 0.0], [0.0, 1.0]]), torch.tensor([0, 0]),
        ...                         bins=2)
        >>> d["edges"], d["accuracy"], d["counts"]
        ([0.0, 0.5, 1.0], [None, 0.5], [0, 2])
    """
    z, y = CF.check_inputs(logits, labels)
    bins = CF.check_bins(bins)
    confidence, correct = CF.top_label(CF.probabilities(z), y)
    counts, conf_sums, hit_sums = CF.binned_sums(CF.equal_width_bins(confidence, bins),
                                                 confidence, correct, bins)
    mean = [None if c == 0 else (h / c, s / c)
            for c, h, s in zip(counts.tolist(), hit_sums.tolist(), conf_sums.tolist(),
                               strict=True)]
    return {
        "edges": CF.bin_edges(bins).tolist(),
        "accuracy": [None if m is None else m[0] for m in mean],
        "confidence": [None if m is None else m[1] for m in mean],
        "counts": [int(c) for c in counts.tolist()],
    }


def _check_diagram(diagram: Mapping[str, Any]) -> None:
    missing = [k for k in _KEYS if k not in diagram]
    if missing:
        raise BrittleError(f"reliability diagram lacks {', '.join(missing)}")
    bins = len(diagram["counts"])
    if len(diagram["edges"]) != bins + 1 or not (
            len(diagram["accuracy"]) == len(diagram["confidence"]) == bins):
        raise BrittleError("reliability diagram needs bins + 1 edges and bins values per list")


def plot_reliability(diagram: Mapping[str, Any], ax: Any = None, *,
                     title: str | None = None) -> Any:
    """Draw a reliability diagram from the dict of :func:`reliability_diagram` (or its JSON).

    Bars show each bin's accuracy, hatched red bars the gap to the bin's mean confidence and the
    dashed diagonal perfect calibration; an orange outline on a second y axis (right) shows the
    samples per bin, and the legend's title gives the ECE recomputed from the bins.

    Args:
        diagram: ``edges``, ``accuracy``, ``confidence`` and ``counts`` as plain lists.
        ax: A matplotlib ``Axes`` to draw on; ``None`` makes a new 4x4-inch figure on the Agg
            canvas (matplotlib is imported only here; the pyplot backend is left alone).
        title: Axes title.

    Returns:
        The matplotlib ``Figure`` holding the axes (``ax`` and its twin for the counts).

    Example:
        >>> d = reliability_diagram(torch.randn(50, 3), torch.randint(0, 3, (50,)), bins=5)
        >>> fig = plot_reliability(d, title="random")
        >>> fig.axes[0].get_title()
        'random'
    """
    _check_diagram(diagram)
    if ax is None:
        from matplotlib.figure import Figure

        fig = Figure(figsize=(4.0, 4.0), dpi=100, layout="constrained")
        ax = fig.add_subplot()
    edges = [float(e) for e in diagram["edges"]]
    counts = [int(c) for c in diagram["counts"]]
    widths = [b - a for a, b in itertools.pairwise(edges)]
    full = [i for i, c in enumerate(counts) if c > 0]
    left, width = [edges[i] for i in full], [widths[i] for i in full]
    acc = [float(diagram["accuracy"][i]) for i in full]
    conf = [float(diagram["confidence"][i]) for i in full]
    ax.bar(left, acc, width=width, align="edge", color="#4c72b0", edgecolor="black",
           linewidth=0.5, label="accuracy", zorder=2)
    ax.bar(left, [c - a for a, c in zip(acc, conf, strict=True)], bottom=acc, width=width,
           align="edge", color="#dd4444", alpha=0.35, edgecolor="#aa0000", hatch="//",
           linewidth=0.5, label="gap to mean confidence", zorder=3)
    ax.plot([0, 1], [0, 1], linestyle="--", color="gray", linewidth=1, label="perfect calibration",
            zorder=4)
    ax.set(xlim=(0, 1), ylim=(0, 1), xlabel="confidence (top label)", ylabel="accuracy")
    # samples per bin on a second y axis, kept in the lower third so it does not hide the bars
    counts_ax = ax.twinx()
    counts_ax.stairs(counts, edges, color="darkorange", linewidth=1.5, label="samples per bin")
    counts_ax.set_ylim(0, 3 * max(max(counts), 1))
    counts_ax.set_ylabel("samples per bin", color="darkorange")
    counts_ax.tick_params(axis="y", colors="darkorange")
    counts_ax.grid(False)
    n = sum(counts)
    ece = sum(counts[i] * abs(a - c) for i, a, c in zip(full, acc, conf, strict=True)) / max(n, 1)
    handles, labels = ax.get_legend_handles_labels()
    twin_handles, twin_labels = counts_ax.get_legend_handles_labels()
    legend = ax.legend(handles + twin_handles, labels + twin_labels, loc="upper left",
                       title=f"ECE {100 * ece:.2f}%, n = {n}", fontsize="x-small",
                       title_fontsize="x-small", framealpha=0.9)
    # the twin axes is drawn after ax, so the legend goes on top of both
    legend.remove()
    counts_ax.add_artist(legend)
    if title is not None:
        ax.set_title(title)
    return ax.figure
