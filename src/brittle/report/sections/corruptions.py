"""Common corruptions: accuracy per corruption and severity, corruption errors, examples."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from brittle.report import plots
from brittle.report.html import (
    esc,
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

TITLE = "Common corruptions"
LEAD = ("Accuracy on the test images after common corruptions (noise, blur, geometric and "
        "weather-like changes) at severities 1 (mild) to 5 (strong); higher is better. The "
        "corruption error (CE) compares the errors to a reference model: 100% means as many "
        "errors as the reference, lower is better.")
ANCHORS = [("corruptions-table", "Per corruption"), ("corruptions-examples", "Examples")]


def render(data: Mapping[str, Any], result: Mapping[str, Any]) -> str:
    suite = data.get("suite", "?")
    version = data.get("params_version")
    stats = [("clean accuracy", rate_html(data.get("clean_accuracy"))),
             ("mean corrupted accuracy", esc(pct(data.get("mean_accuracy")))),
             ("mCE", esc(pct(data.get("mce"))) if data.get("mce") is not None
              else '<span class="note">no reference model</span>')]
    parts = [kpis(stats),
             f"<p>Suite <b>{esc(suite)}</b>" + (f" (parameters {esc(version)})" if version else "")
             + (f", reference model {esc(data['reference'])}" if data.get("reference") else "")
             + ".</p>"]
    severities = [s for s in data.get("severities") or [] if isinstance(s, int)]
    results = data.get("results") or []
    heatmap = plots.corruption_heatmap(results, severities)
    parts.append(f'<div class="figs">{plot_img(heatmap, "accuracy per corruption")}</div>')
    parts += [heading(3, "corruptions-table", "Per corruption"),
              _table(data.get("per_corruption") or [], results, severities)]
    parts += [heading(3, "corruptions-examples", "Examples"),
              _examples(data.get("examples") or [])]
    return "".join(parts)


def _table(per: Sequence[Mapping[str, Any]], results: Sequence[Mapping[str, Any]],
           severities: Sequence[int]) -> str:
    cells = {(str(r.get("corruption")), r.get("severity")): r.get("accuracy") for r in results}
    summary = {str(p.get("corruption")): p for p in per}
    names = list(dict.fromkeys([*summary, *(name for name, _ in cells)]))
    if not names:
        return '<p class="note">No corruption results.</p>'

    def mean(name: str) -> float:
        value = (summary.get(name) or {}).get("mean_accuracy")
        if value is None:
            values = [rate_value(cells.get((name, s))) for s in severities]
            known = [v for v in values if v is not None]
            value = sum(known) / len(known) if known else 1.0
        return float(value)

    names.sort(key=mean)
    has_ce = any((summary.get(n) or {}).get("ce") is not None for n in names)
    headers = ["corruption", "mean accuracy", *(["CE"] if has_ce else []),
               *(f"severity {s}" for s in severities)]
    rows = []
    for name in names:
        ce = (summary.get(name) or {}).get("ce")
        rows.append([esc(name), esc(pct(mean(name))), *([esc(pct(ce))] if has_ce else []),
                     *(rate_html(cells.get((name, s)), stacked=True) for s in severities)])
    marks = worst_rows([1.0 - mean(n) for n in names])
    return ('<p class="note">Sorted by mean accuracy over the severities, worst first; the '
            "worst corruptions are highlighted.</p>"
            + table(headers, rows, numeric=list(range(1, len(headers))), sorted_col=1,
                    row_classes=marks))


def _examples(examples: Sequence[Mapping[str, Any]]) -> str:
    if not examples:
        return '<p class="note">No examples were recorded.</p>'
    levels = {ex.get("severity") for ex in examples if ex.get("corruption") != "clean"}
    common = levels.pop() if len(levels) == 1 else None
    figures = []
    for ex in examples:
        name = str(ex.get("corruption", "?"))
        caption = (name if name == "clean" or common is not None
                   else f"{name} (severity {ex.get('severity', '?')})")
        figures.append(f'<figure class="ex">{png_img(ex.get("image_png"), caption)}'
                       f"<figcaption>{esc(caption)}</figcaption></figure>")
    at = f" at severity {esc(common)}" if common is not None else ""
    return (f'<p class="note">The same test image under each corruption{at}.</p>'
            + "".join(figures))
