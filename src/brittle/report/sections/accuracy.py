"""Clean accuracy: overall, per class (miss rates), the confusion matrix and confused pairs."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from brittle.report import plots
from brittle.report.html import (
    esc,
    folded,
    heading,
    kpis,
    pct,
    plot_img,
    png_img,
    rate_html,
    rate_value,
    table,
    worst_rows,
)
from brittle.report.sections.common import class_label, class_names

TITLE = "Clean accuracy"
LEAD = ("Clean accuracy: share of test images classified correctly, with no attack or "
        "corruption; higher is better. The miss rate of a class is the share of its images "
        "the model gets wrong; lower is better.")
ANCHORS = [("accuracy-classes", "Per-class miss rate"), ("accuracy-pairs", "Confused pairs")]


def render(data: Mapping[str, Any], result: Mapping[str, Any]) -> str:
    names = class_names(result)
    overall = data.get("accuracy")
    errors = overall["n"] - overall["k"] if overall and overall.get("n") else None
    parts = [kpis([("accuracy", rate_html(overall)),
                   ("errors", esc(errors if errors is not None else "n/a"))])]
    parts.append(heading(3, "accuracy-classes", "Per-class miss rate"))
    parts.append(_classes(data.get("per_class") or [], data.get("confusion"), names))
    parts.append(heading(3, "accuracy-pairs", "Most confused pairs"))
    parts.append(_pairs(data.get("confused_pairs") or [], names))
    return "".join(parts)


def _classes(per_class: Sequence[Mapping[str, Any]], confusion: Any, names: list[str]) -> str:
    if not per_class:
        return '<p class="note">No per-class results.</p>'
    labels = [str(row.get("name", class_label(names, row.get("index")))) for row in per_class]
    miss = [rate_value(row.get("miss")) for row in per_class]
    figures = [plot_img(plots.per_class_bars(labels, {"miss rate": miss},
                                             title="Miss rate per true class",
                                             ylabel="miss rate (%)"), "miss rate per class")]
    if confusion:
        figures.append(plot_img(plots.confusion_heatmap(
            confusion, names or labels, title="Confusion matrix (test set)"), "confusion matrix"))
    order = sorted(range(len(per_class)), key=lambda i: -(miss[i] or 0.0))
    top = max((m or 0.0 for m in miss), default=0.0) or 1.0
    rows = [[esc(labels[i]), rate_html(per_class[i].get("miss")),
             f'<span class="bar" style="width:{int(80 * (miss[i] or 0.0) / top)}px"></span>']
            for i in order]
    note = ('<p class="note">Sorted by miss rate, worst first; the worst classes are '
            "highlighted. The heatmap colours only the errors (the diagonal of correct "
            "predictions would drown them).</p>")
    return (f'<div class="figs">{"".join(figures)}</div>' + note
            + folded(["class", "miss rate", ""], rows, worst_rows([miss[i] for i in order]),
                     numeric=[], sorted_col=1))


def _pairs(pairs: Sequence[Mapping[str, Any]], names: list[str]) -> str:
    if not pairs:
        return '<p class="note">No confused pairs were recorded.</p>'
    rows = []
    for pair in pairs:
        true = class_label(names, pair.get("true"))
        pred = class_label(names, pair.get("predicted"))
        images = "".join(_example(ex) for ex in pair.get("examples") or [])
        rows.append([f"{esc(true)} &rarr; {esc(pred)}", esc(pair.get("count", "")),
                     rate_html(pair.get("rate")), images])
    return ('<p class="note">Rate: share of the true class predicted as the other class. '
            "Examples: test images of the true class the model called the other class, with "
            "its confidence.</p>"
            + table(["true → predicted", "count", "rate", "examples"], rows, numeric=[1],
                    sorted_col=1))


def _example(ex: Mapping[str, Any]) -> str:
    image = png_img(ex.get("image_png"), f"test image {ex.get('index')}")
    caption = f"#{esc(ex.get('index'))}<br>{esc(pct(ex.get('confidence'), 0))}"
    return f'<figure class="ex">{image}<figcaption>{caption}</figcaption></figure>'
