"""Figures of the HTML report, drawn from the results JSON and returned as PNG data URIs.

Figures are built on :class:`matplotlib.figure.Figure` with the Agg canvas (imported lazily, the
global pyplot backend is left alone), under matplotlib's default style so a user's matplotlibrc
does not change the report, with mathtext off so a ``$`` in a class name is just a character,
and saved without the ``Software`` metadata so the same results give byte-identical PNGs. Sizes
are about 5x3 inches at 100 dpi to keep the page small.
"""

from __future__ import annotations

import base64
import contextlib
import io
import itertools
import math
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

DPI = 100
_RC: dict[str, Any] = {
    "font.size": 9, "axes.titlesize": 10, "axes.labelsize": 9, "legend.fontsize": 8,
    "xtick.labelsize": 8, "ytick.labelsize": 8, "axes.grid": True, "grid.alpha": 0.3,
    "text.usetex": False, "text.parse_math": False}  # names from the JSON are never mathtext


@contextlib.contextmanager
def _figure(width: float, height: float, ncols: int = 1, nrows: int = 1,
            **kw: Any) -> Iterator[tuple[Any, Any]]:
    import matplotlib
    import matplotlib.style
    from matplotlib.figure import Figure

    with matplotlib.rc_context():
        matplotlib.style.use(["default", _RC])
        fig = Figure(figsize=(width, height), dpi=DPI, layout="constrained")
        axes = fig.subplots(nrows, ncols, squeeze=False, **kw)
        yield fig, axes


def _encode(fig: Any) -> str:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=DPI, metadata={"Software": None})
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def _values(rates: Sequence[Mapping[str, Any] | None], key: str = "value") -> list[float]:
    return [100 * float(r[key]) if r and r.get("n") else math.nan for r in rates]


def robustness_curves(curves: Sequence[Mapping[str, Any]]) -> str | None:
    """Robust accuracy (%) against eps, one line per attack with its 95% CI band."""
    if not curves:
        return None
    with _figure(5.2, 3.2) as (fig, axes):
        ax = axes[0][0]
        for curve in curves:
            eps = [float(e) for e in curve.get("eps", [])]
            rates = curve.get("robust_accuracy", [])
            label = f"{curve.get('attack', '?')} ({curve.get('norm', '?')})"
            line = ax.plot(eps, _values(rates), marker="o", markersize=3, label=label)[0]
            ax.fill_between(eps, _values(rates, "low"), _values(rates, "high"), alpha=0.2,
                            color=line.get_color(), linewidth=0)
        ax.set(xlabel="eps (pixel scale [0, 1])", ylabel="robust accuracy (%)", ylim=(0, 101),
               title="Robust accuracy vs attack strength (band: 95% CI)")
        ax.legend()
        return _encode(fig)


def per_class_bars(names: Sequence[str], series: Mapping[str, Sequence[float | None]], *,
                   title: str, ylabel: str) -> str | None:
    """Grouped bars per class, one group member per entry of ``series`` (values in [0, 1])."""
    if not names or not series:
        return None
    width = 0.8 / len(series)
    bars = len(names) * len(series)
    with _figure(4.8 if bars <= 24 else min(10.0, 0.2 * bars + 0.5), 3.0) as (fig, axes):
        ax = axes[0][0]
        for s, (label, values) in enumerate(series.items()):
            xs = [i + (s - (len(series) - 1) / 2) * width for i in range(len(names))]
            ys = [100 * v if v is not None else math.nan for v in values]
            ax.bar(xs, ys, width=width, label=label)
        long = max(len(str(n)) for n in names) > 3
        ticks = _ticks(len(names))
        ax.set_xticks(ticks, [str(names[i]) for i in ticks], rotation=45 if long else 0,
                      ha="right" if long else "center")
        top = max((100 * v for vs in series.values() for v in vs if v is not None), default=0.0)
        ax.set(ylabel=ylabel, title=title, ylim=(0, min(100.0, max(5.0, 1.15 * top))))
        ax.grid(axis="x", visible=False)
        if len(series) > 1:
            ax.legend()
        return _encode(fig)


def confusion_heatmap(matrix: Sequence[Sequence[int]], names: Sequence[str], *, title: str,
                      xlabel: str = "predicted", ylabel: str = "true") -> str | None:
    """Off-diagonal counts as a heatmap (the diagonal would drown the errors); counts written in."""
    import numpy as np

    counts = np.asarray(matrix, dtype=float)
    if counts.ndim != 2 or counts.size == 0 or counts.shape[0] != counts.shape[1]:
        return None
    k = counts.shape[0]
    errors = counts.copy()
    np.fill_diagonal(errors, np.nan)
    size = min(4.4, 2.0 + 0.3 * k)
    with _figure(size + 0.7, size) as (fig, axes):
        ax = axes[0][0]
        image = ax.imshow(errors, cmap="Reds", vmin=0)
        fig.colorbar(image, ax=ax, shrink=0.8, label="errors (off-diagonal count)")
        labels = [str(n) for n in names] if len(names) == k else [str(i) for i in range(k)]
        ticks = _ticks(k)
        ax.set_xticks(ticks, [labels[i] for i in ticks], rotation=90 if k > 10 else 0)
        ax.set_yticks(ticks, [labels[i] for i in ticks])
        ax.set(xlabel=xlabel, ylabel=ylabel, title=title)
        ax.grid(visible=False)
        if k <= 12:
            top = np.nanmax(errors) if np.isfinite(errors).any() else 0.0
            for (i, j), value in np.ndenumerate(counts):
                strong = i != j and top > 0 and value > 0.6 * top
                ax.text(j, i, f"{int(value)}", ha="center", va="center", fontsize=6.5,
                        color="white" if strong else ("#777" if i == j else "black"))
        return _encode(fig)


def corruption_heatmap(results: Sequence[Mapping[str, Any]],
                       severities: Sequence[int]) -> str | None:
    """Accuracy (%) per corruption (rows) and severity (columns), values written in the cells."""
    import numpy as np

    names = list(dict.fromkeys(str(r["corruption"]) for r in results))
    if not names or not severities:
        return None
    grid = np.full((len(names), len(severities)), np.nan)
    for r in results:
        if r.get("severity") in severities:
            grid[names.index(str(r["corruption"])), list(severities).index(r["severity"])] = (
                _values([r.get("accuracy")])[0])
    with _figure(5.2, max(2.6, 0.26 * len(names) + 1.2)) as (fig, axes):
        ax = axes[0][0]
        low = np.nanmin(grid) if np.isfinite(grid).any() else 0.0
        # Start the colour scale a little below the worst cell, so differences stay visible.
        image = ax.imshow(grid, cmap="RdYlGn", vmin=max(0.0, 10 * math.floor(low / 10) - 10),
                          vmax=100, aspect="auto")
        fig.colorbar(image, ax=ax, label="accuracy (%)")
        ax.set_xticks(range(len(severities)), [str(s) for s in severities])
        ax.set_yticks(range(len(names)), [str(n) for n in names])
        ax.set(xlabel="severity", title="Accuracy under corruption")
        ax.grid(visible=False)
        for (i, j), value in np.ndenumerate(grid):
            if not math.isnan(value):
                ax.text(j, i, f"{value:.0f}", ha="center", va="center", fontsize=7)
        return _encode(fig)


def ood_histograms(histograms: Sequence[Mapping[str, Any]], dataset: str) -> str | None:
    """In-distribution vs OOD score histograms for one OOD dataset, one panel per detector."""
    chosen = [h for h in histograms if h.get("dataset") == dataset and h.get("edges")]
    if not chosen:
        return None
    ncols = min(4, len(chosen))
    nrows = math.ceil(len(chosen) / ncols)
    with _figure(2.2 * ncols, 1.5 * nrows + 0.4, ncols=ncols, nrows=nrows) as (fig, axes):
        for ax in axes.flat[len(chosen):]:
            ax.set_visible(False)
        for ax, hist in zip(axes.flat, chosen, strict=False):
            edges = [float(e) for e in hist["edges"]]
            widths = [b - a for a, b in itertools.pairwise(edges)]
            for key, color in (("in", "tab:blue"), ("out", "tab:red")):
                counts = [float(c) for c in hist.get(key, [])]
                total = sum(counts) or 1.0
                ax.bar(edges[:-1], [c / total for c in counts], width=widths, align="edge",
                       alpha=0.55, color=color, label="in-dist." if key == "in" else "OOD")
            ax.set_title(str(hist.get("detector", "?")), fontsize=8)
            ax.tick_params(labelsize=7)
            ax.set_yticks([])
            ax.grid(visible=False)
        axes.flat[0].legend(fontsize=7)
        fig.suptitle(f"OOD score (higher = more OOD): in-distribution vs {dataset}", fontsize=10)
        return _encode(fig)


def reliability(diagrams: Mapping[str, Mapping[str, Any]], *,
                temperature: float | None = None) -> str | None:
    """Reliability diagrams side by side (before / after temperature scaling).

    Bars show each confidence bin's accuracy; the diagonal is perfect calibration; the hatched
    gap to the bin's mean confidence is what ECE averages, weighted by the bin counts.
    """
    panels = [(k, diagrams[k]) for k in ("before", "after") if diagrams.get(k)]
    if not panels:
        return None
    with _figure(2.8 * len(panels) + 0.4, 3.3, ncols=len(panels), sharey=True) as (fig, axes):
        for ax, (key, diagram) in zip(axes[0], panels, strict=True):
            edges = [float(e) for e in diagram["edges"]]
            acc, conf = diagram.get("accuracy", []), diagram.get("confidence", [])
            for i, (a, c) in enumerate(zip(acc, conf, strict=False)):
                if a is None or c is None:
                    continue
                left, width = edges[i], edges[i + 1] - edges[i]
                ax.bar(left, a, width=width, align="edge", color="tab:blue", alpha=0.75,
                       edgecolor="white", linewidth=0.5)
                ax.bar(left, c - a, bottom=a, width=width, align="edge", fill=False,
                       edgecolor="tab:red", hatch="////", linewidth=0.6)
            ax.plot([0, 1], [0, 1], color="black", linestyle="--", linewidth=0.8)
            ax.set(xlim=(0, 1), ylim=(0, 1), xlabel="confidence", aspect="equal")
            suffix = f" (T={temperature:.2f})" if key == "after" and temperature else ""
            ax.set_title(f"{key} temperature scaling{suffix}", fontsize=9)
        axes[0][0].set_ylabel("accuracy")
        return _encode(fig)


def calibration_shift(rows: Sequence[Mapping[str, Any]]) -> str | None:
    """Accuracy and ECE against corruption severity, one line per corruption."""
    if not rows:
        return None
    by_name: dict[str, list[Mapping[str, Any]]] = {}
    for row in rows:
        by_name.setdefault(str(row.get("corruption", "?")), []).append(row)
    with _figure(7.6, 3.1, ncols=2) as (fig, axes):
        for name, points in by_name.items():
            points = sorted(points, key=lambda p: p.get("severity", 0))
            sev = [p.get("severity", 0) for p in points]
            axes[0][0].plot(sev, [_num(p.get("accuracy"), 100) for p in points], marker=".",
                            label=name)
            axes[0][1].plot(sev, [_num(p.get("ece"), 100) for p in points], marker=".")
        axes[0][0].set(xlabel="severity", ylabel="accuracy (%)", title="Accuracy under shift")
        axes[0][1].set(xlabel="severity", ylabel="ECE (%)", title="Calibration error under shift")
        fig.legend(loc="outside right center", fontsize=7)
        return _encode(fig)


def _num(value: Any, scale: float = 1.0) -> float:
    return scale * float(value) if value is not None else math.nan


def _ticks(count: int, most: int = 25) -> list[int]:
    """Every class up to ``most`` classes, else an evenly thinned subset (labels stay legible)."""
    return list(range(0, count, math.ceil(count / most)))
