"""Out-of-distribution detection: AUROC and FPR@95 per detector and OOD dataset, histograms."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from brittle.report import plots
from brittle.report.html import esc, heading, num, pct, plot_img, table

TITLE = "Out-of-distribution detection"
LEAD = ("How well each detector tells test images like the training data apart from other "
        "data (OOD): AUROC is 1.0 for perfect separation and 0.5 for chance, higher is better; "
        "FPR@95 is the share of in-distribution images wrongly flagged when 95% of OOD images "
        "are caught, lower is better.")
ANCHORS = [("ood-table", "AUROC and FPR@95"), ("ood-histograms", "Score histograms")]


def render(data: Mapping[str, Any], result: Mapping[str, Any]) -> str:
    convention = data.get("convention") or {}
    ind, fit = data.get("in_distribution") or {}, data.get("fit") or {}
    parts = [f"<p>In-distribution: <b>{esc(ind.get('name', '?'))}</b> (n={esc(ind.get('n', '?'))})"
             + (f"; detectors fitted on {esc(fit.get('name', '?'))} {esc(fit.get('split', ''))} "
                f"(n={esc(fit.get('n', '?'))})" if fit else "")
             + f". Scores: {esc(convention.get('score', 'higher means more OOD'))}; the "
             f"positive class of AUROC and FPR@95 is <b>{esc(convention.get('positive', 'ood'))}"
             "</b>.</p>"]
    datasets = data.get("datasets") or []
    if datasets:
        parts.append(table(["OOD dataset", "kind", "n", "conversion"],
                           ([esc(d.get("name", "?")), esc(d.get("kind", "")),
                             esc(d.get("n", "")), esc(d.get("conversion", ""))]
                            for d in datasets), numeric=[2]))
    results = data.get("results") or []
    names = list(dict.fromkeys([*(str(d.get("name")) for d in datasets),
                                *(str(r.get("dataset")) for r in results)]))
    parts += [heading(3, "ood-table", "AUROC and FPR@95"), _results(results, names)]
    hists = data.get("histograms") or []
    parts += [heading(3, "ood-histograms", "Score histograms"), _histograms(hists, names)]
    return "".join(parts)


def _histograms(hists: Sequence[Mapping[str, Any]], names: Sequence[str]) -> str:
    """The first OOD dataset's histograms in view, the others folded away."""
    figures = [(name, plot_img(plots.ood_histograms(hists, name), f"score histograms, {name}"))
               for name in names]
    figures = [(name, figure) for name, figure in figures if figure]
    if not figures:
        return '<p class="note">No histograms were recorded.</p>'
    (_, first), rest = figures[0], figures[1:]
    folded = "".join(f"<details><summary>histograms for {esc(name)}</summary>{figure}</details>"
                     for name, figure in rest)
    return ('<p class="note">Share of images per score bin, in-distribution (blue) and OOD '
            "(red): the less they overlap, the easier the detection.</p>" + first + folded)


def _results(results: Sequence[Mapping[str, Any]], datasets: Sequence[str]) -> str:
    if not results:
        return '<p class="note">No detection results.</p>'
    cell = {(str(r.get("detector")), str(r.get("dataset"))): r for r in results}
    detectors = list(dict.fromkeys(str(r.get("detector")) for r in results))
    best = {name: max((cell[(d, name)].get("auroc") or 0.0 for d in detectors
                       if (d, name) in cell), default=None) for name in datasets}
    worst = {name: min((cell[(d, name)].get("auroc") or 0.0 for d in detectors
                        if (d, name) in cell), default=None) for name in datasets}
    rows = []
    for detector in detectors:
        row = [esc(detector)]
        for name in datasets:
            r = cell.get((detector, name))
            if r is None:
                row += ["–", "–"]
                continue
            auroc = esc(num(r.get("auroc"), 3))
            if r.get("auroc") == best[name]:
                auroc = f"<b>{auroc}</b>"
            elif r.get("auroc") == worst[name] and best[name] != worst[name]:
                auroc = f'<span style="color: var(--high)">{auroc}</span>'
            row += [auroc, esc(pct(r.get("fpr95")))]
        rows.append(row)
    full = table(["detector", "OOD dataset", "AUROC", "AUPR-in", "AUPR-out", "FPR@95"],
                 ([esc(r.get("detector")), esc(r.get("dataset")), esc(num(r.get("auroc"))),
                   esc(num(r.get("aupr_in"))), esc(num(r.get("aupr_out"))),
                   esc(pct(r.get("fpr95")))] for r in results), numeric=[2, 3, 4, 5])
    return ('<p class="note">Per OOD dataset, the best AUROC is bold and the worst red.</p>'
            + _pivot(datasets, rows)
            + f"<details><summary>all metrics (AUPR with in-distribution or OOD as positive)"
            f"</summary>{full}</details>")


def _pivot(datasets: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """Detectors down, OOD datasets across, each with an AUROC and an FPR@95 column."""
    groups = "".join(f'<th class="group" colspan="2">{esc(name)}</th>' for name in datasets)
    metrics = '<th class="num first">AUROC</th><th class="num">FPR@95</th>' * len(datasets)
    body = "".join("<tr><td>" + row[0] + "</td>" + "".join(
        f'<td class="num{" first" if i % 2 == 0 else ""}">{cell}</td>'
        for i, cell in enumerate(row[1:])) + "</tr>" for row in rows)
    return (f'<table><thead><tr><th rowspan="2">detector</th>{groups}</tr><tr>{metrics}</tr>'
            f"</thead><tbody>{body}</tbody></table>")
