"""Calibration: metrics before/after temperature scaling, reliability diagrams, shift."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from brittle.report import plots
from brittle.report.html import esc, heading, kpis, num, pct, plot_img, table

TITLE = "Calibration"
LEAD = ("Whether the model's confidence matches how often it is right: the expected "
        "calibration error (ECE) is the average gap between confidence and accuracy, 0 is "
        "perfect and lower is better. Temperature scaling divides the logits by one number T "
        "fitted on held-out data.")
ANCHORS = [("calibration-reliability", "Reliability diagrams"),
           ("calibration-shift", "Calibration under shift")]
#: Metric key -> (label, shown as a percentage).
METRICS = {"ece": ("ECE (equal-width bins)", True),
           "ece_equal_mass": ("ECE (equal-mass bins)", True),
           "classwise_ece": ("classwise ECE", True), "rms": ("RMS calibration error", True),
           "mce": ("maximum calibration error", True), "brier": ("Brier score", False),
           "nll": ("negative log-likelihood", False), "accuracy": ("accuracy", True)}


def render(data: Mapping[str, Any], result: Mapping[str, Any]) -> str:
    before, after = data.get("before") or {}, data.get("after") or {}
    temperature = data.get("temperature")
    split = data.get("split") or {}
    parts = [kpis([("temperature T", esc(num(temperature, 2))),
                   ("ECE before", esc(pct(before.get("ece"), 2))),
                   ("ECE after", esc(pct(after.get("ece"), 2)))]),
             f"<p>{esc(data.get('bins', '?'))} confidence bins; T fitted on "
             f"{esc(split.get('fit_n', '?'))} images and evaluated on "
             f"{esc(split.get('eval_n', '?'))} others.</p>", _metrics(before, after)]
    diagram = plots.reliability(data.get("reliability") or {},
                                temperature=temperature if isinstance(temperature, float) else None)
    parts += [heading(3, "calibration-reliability", "Reliability diagrams"),
              '<p class="note">Each bar is one confidence bin: its height is the accuracy of the '
              "images in it, and the red hatched box spans the gap to their mean confidence. "
              "Bars on the dashed diagonal are perfectly calibrated; a gap above a bar means "
              "overconfident, below it underconfident.</p>"
              if diagram else '<p class="note">No reliability diagram was recorded.</p>',
              f'<div class="figs">{plot_img(diagram, "reliability diagrams")}</div>']
    parts += [heading(3, "calibration-shift", "Calibration under shift"),
              _shift(data.get("under_shift") or [])]
    return "".join(parts)


def _metrics(before: Mapping[str, Any], after: Mapping[str, Any]) -> str:
    keys = [k for k in METRICS if k in before or k in after]
    keys += [k for k in [*before, *after] if k not in METRICS and k not in keys]
    if not keys:
        return ""
    rows = []
    for key in keys:
        label, percent = METRICS.get(key, (key, False))
        b, a = before.get(key), after.get(key)
        change = a - b if isinstance(a, int | float) and isinstance(b, int | float) else None
        rows.append([esc(label)] + [esc(pct(v, 2) if percent else num(v, 4))
                                    for v in (b, a, change)])
    return table(["metric", "before", "after temperature scaling", "change"], rows,
                 numeric=[1, 2, 3])


def _shift(rows: Sequence[Mapping[str, Any]]) -> str:
    if not rows:
        return '<p class="note">Calibration under shift was not measured.</p>'
    body = table(["corruption", "severity", "accuracy", "ECE", "NLL", "Brier"],
                 ([esc(r.get("corruption", "?")), esc(r.get("severity", "?")),
                   esc(pct(r.get("accuracy"))), esc(pct(r.get("ece"), 2)),
                   esc(num(r.get("nll"))), esc(num(r.get("brier")))] for r in rows),
                 numeric=[1, 2, 3, 4, 5])
    figure = plot_img(plots.calibration_shift(rows), "calibration under shift")
    return ('<p class="note">Accuracy and ECE on corrupted test images: a model that stays '
            "calibrated keeps its ECE low as its accuracy falls.</p>"
            f'<div class="figs">{figure}</div>'
            f"<details><summary>table ({len(rows)} rows)</summary>{body}</details>")
