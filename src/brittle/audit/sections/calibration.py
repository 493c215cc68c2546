"""Calibration: ECE and friends before and after temperature scaling, reliability diagrams,
and the same metrics under each corruption severity (calibration under shift)."""

from __future__ import annotations

from typing import Any

from brittle import calibration
from brittle.audit.context import AuditContext

BINS = 15


def run(ctx: AuditContext) -> dict[str, Any]:
    """Fit the temperature on one half of the clean logits, measure on the other half."""
    logits, y = ctx.logits.cpu(), ctx.y.cpu()
    fit_idx, eval_idx = calibration.split_fit_eval(len(y), fraction=0.5, seed=ctx.seed)
    scaler = calibration.TemperatureScaler().fit(logits[fit_idx], y[fit_idx])
    held, held_y = logits[eval_idx], y[eval_idx]
    section: dict[str, Any] = {
        "bins": BINS, "split": {"fit_n": len(fit_idx), "eval_n": len(eval_idx)},
        "temperature": scaler.temperature,
        "before": calibration.calibration_metrics(held, held_y, bins=BINS),
        "after": calibration.calibration_metrics(scaler(held), held_y, bins=BINS),
        "reliability": {
            "before": calibration.reliability_diagram(held, held_y, bins=BINS),
            "after": calibration.reliability_diagram(scaler(held), held_y, bins=BINS)},
        "under_shift": _under_shift(ctx, scaler)}
    return section


def _under_shift(ctx: AuditContext, scaler: calibration.TemperatureScaler) -> list[dict[str, Any]]:
    """Metrics on every corrupted copy of the audited images (from the corruptions section),
    as they come and with the clean-data temperature applied."""
    rows = []
    for (name, severity), logits in ctx.shared.get("corruption_logits", {}).items():
        raw = calibration.calibration_metrics(logits, ctx.y, bins=BINS)
        scaled = calibration.ece(scaler(logits), ctx.y, bins=BINS)
        rows.append({"corruption": name, "severity": severity, "accuracy": raw["accuracy"],
                     "ece": raw["ece"], "nll": raw["nll"], "brier": raw["brier"],
                     "ece_scaled": scaled})
    return rows
