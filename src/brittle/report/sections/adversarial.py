"""Adversarial robustness: curves, per-class attack success, masking checks, examples."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from brittle.report import plots
from brittle.report.html import (
    badge,
    esc,
    folded,
    heading,
    num,
    pct,
    plot_img,
    png_img,
    rate_html,
    rate_value,
    table,
    worst_rows,
)
from brittle.report.sections.common import class_label, class_names

TITLE = "Adversarial robustness"
LEAD = ("Robust accuracy: share of test images still classified correctly after the attack, "
        "for each perturbation budget eps (pixel scale [0, 1]); higher is better. Attack "
        "success: share of correctly classified images the attack flips; lower is better.")
ANCHORS = [("adversarial-curves", "Robustness curves"), ("adversarial-classes", "Per class"),
           ("adversarial-masking", "Gradient-masking checks"),
           ("adversarial-examples", "Examples")]


def render(data: Mapping[str, Any], result: Mapping[str, Any]) -> str:
    names = class_names(result)
    parts = [_attack(data.get("attack") or {})]
    parts += [heading(3, "adversarial-curves", "Robustness curves"),
              _curves(data.get("curves") or [])]
    parts += [heading(3, "adversarial-classes", "Which classes break first"),
              _classes(data, names)]
    parts += [heading(3, "adversarial-masking", "Gradient-masking checks"),
              _masking(data.get("masking") or [])]
    parts += [heading(3, "adversarial-examples", "Examples"),
              _examples(data.get("examples") or [], names)]
    return "".join(parts)


def _attack(attack: Mapping[str, Any]) -> str:
    if not attack:
        return ""
    bits = [f"{attack.get('name', '?')}".upper(), f"norm {attack.get('norm', '?')}"]
    bits += [f"{k} {attack[k]}" for k in ("eps", "steps") if attack.get(k) is not None]
    return (f'<p>Per-class results and examples use this attack: <b>{esc(", ".join(bits))}</b>.'
            "</p>")


def _curves(curves: Sequence[Mapping[str, Any]]) -> str:
    if not curves:
        return '<p class="note">No robustness curves were recorded.</p>'
    eps_values = sorted({float(e) for c in curves for e in c.get("eps", [])})
    cells: dict[tuple[int, float], Any] = {}
    for i, curve in enumerate(curves):
        for e, r in zip(curve.get("eps", []), curve.get("robust_accuracy", []), strict=False):
            cells[(i, float(e))] = r
    headers = ["eps"] + [f"{c.get('attack', '?')} ({c.get('norm', '?')})" for c in curves]
    rows = [[esc(f"{e:g}")] + [rate_html(cells[(i, e)]) if (i, e) in cells else "–"
                               for i in range(len(curves))] for e in eps_values]
    body = table(headers, rows, numeric=list(range(1, len(headers))), sorted_col=0)
    figure = plot_img(plots.robustness_curves(curves), "robustness curves")
    return f'<div class="figs">{figure}{body}</div>'



def _classes(data: Mapping[str, Any], names: list[str]) -> str:
    per_class = data.get("per_class") or {}
    untargeted = per_class.get("untargeted") or []
    if not untargeted:
        return '<p class="note">No per-class results.</p>'
    least = {row.get("index"): row for row in per_class.get("least-likely") or []}
    labels = [str(r.get("name", class_label(names, r.get("index")))) for r in untargeted]
    success = [rate_value(r.get("attack_success")) for r in untargeted]
    series = {"untargeted": success}
    if least:
        series["least-likely target"] = [rate_value((least.get(r.get("index")) or {}).get(
            "attack_success")) for r in untargeted]
    figs = [plot_img(plots.per_class_bars(labels, series, title="Attack success per class",
                                          ylabel="attack success (%)"), "attack success")]
    if data.get("confusion"):
        figs.append(plot_img(plots.confusion_heatmap(
            data["confusion"], names or labels, title="Clean prediction → adversarial prediction",
            xlabel="adversarial prediction", ylabel="clean prediction"), "adversarial confusion"))
    order = sorted(range(len(untargeted)), key=lambda i: -(success[i] or 0.0))
    rows = []
    for i in order:
        row = untargeted[i]
        other = least.get(row.get("index"))
        rows.append([esc(labels[i]), rate_html(row.get("clean_accuracy")),
                     rate_html(row.get("robust_accuracy")), rate_html(row.get("attack_success"))]
                    + ([rate_html(other.get("attack_success")) if other else "–"] if least else []))
    headers = ["class", "clean accuracy", "robust accuracy", "attack success (untargeted)"]
    headers += ["attack success (least-likely target)"] if least else []
    return (f'<div class="figs">{"".join(figs)}</div>' + _spearman(data.get("spearman"))
            + '<p class="note">Sorted by untargeted attack success, worst first; the worst '
            "classes are highlighted. The least-likely attack must reach the class the model "
            "finds least likely, which is harder. The heatmap shows where attacked images go "
            "(diagonal: still correct, left out of the colour scale).</p>"
            + folded(headers, rows, worst_rows([success[i] for i in order]), numeric=[],
                     sorted_col=3))


def _spearman(spearman: Mapping[str, Any] | None) -> str:
    if not spearman:
        return ""
    x, y = spearman.get("x", "x"), spearman.get("y", "y")
    if spearman.get("rho") is None:
        return f"<p>The rank correlation between {esc(x)} and {esc(y)} is undefined.</p>"
    return (f"<p>Spearman rank correlation across {esc(spearman.get('n_classes', '?'))} classes "
            f"between <i>{esc(x)}</i> and <i>{esc(y)}</i>: <b>rho = "
            f"{esc(num(spearman['rho'], 2))}</b> (p = {esc(num(spearman.get('p_value'), 3))}). "
            "A positive rho means classes the model already confuses are easier to attack.</p>")


def _masking(checks: Sequence[Mapping[str, Any]]) -> str:
    if not checks:
        return '<p class="note">No gradient-masking checks were run.</p>'
    rows = []
    for check in checks:
        flagged = check.get("flagged")
        status = (badge(check.get("severity", "?")) if flagged
                  else badge("ok") if flagged is not None else badge(check.get("severity", "?")))
        rows.append([status, esc(check.get("check", "?")), esc(check.get("message", ""))])
    evidence = json.dumps({str(c.get("check")): c.get("evidence") for c in checks}, indent=1,
                          sort_keys=True, default=str)
    flagged_n = sum(bool(c.get("flagged")) for c in checks)
    return (f"<p>Checks that would make the numbers above look more robust than the model is "
            f"(Carlini et al. 2019): <b>{flagged_n} of {len(checks)} flagged</b>.</p>"
            + table(["status", "check", "message"], rows)
            + f"<details><summary>evidence</summary><pre>{esc(evidence)}</pre></details>")


def _examples(examples: Sequence[Mapping[str, Any]], names: list[str]) -> str:
    if not examples:
        return '<p class="note">No examples were recorded.</p>'
    items = []
    for ex in examples:
        label = class_label(names, ex.get("label"))
        clean = f"{class_label(names, ex.get('clean_pred'))} {pct(ex.get('clean_conf'), 0)}"
        adv = f"{class_label(names, ex.get('adv_pred'))} {pct(ex.get('adv_conf'), 0)}"
        panels = [("original_png", f"true {label}", f"pred {clean}"),
                  ("perturbation_png", "perturbation", "×10"),
                  ("adversarial_png", "adversarial", f"pred {adv}")]
        figures = "".join(
            f'<figure class="ex">{png_img(ex.get(key), alt)}<figcaption>{esc(alt)}<br>'
            f"{esc(caption)}</figcaption></figure>" for key, alt, caption in panels)
        items.append(f'<div class="triple">{figures}</div>')
    return ('<p class="note">Original, perturbation (amplified ten times around grey so it is '
            "visible) and adversarial image, with the model's prediction and confidence.</p>"
            + "".join(items))

