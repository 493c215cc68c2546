"""Calibration: ECE (equal-width, equal-mass, classwise), RMS calibration error, MCE, Brier, NLL,
reliability diagrams and temperature scaling.

Everything consumes logits ``(N, K)``, never probabilities; ECE defaults to 15 right-closed
equal-width top-label bins.

Example:
    >>> import torch
    >>> from brittle import calibration
    >>> gen = torch.Generator().manual_seed(0)
    >>> logits = 5 * torch.randn(200, 10, generator=gen)
    >>> labels = torch.randint(0, 10, (200,), generator=gen)
    >>> scaler = calibration.TemperatureScaler().fit(logits, labels)
    >>> scaler.temperature > 1
    True
    >>> calibration.ece(scaler(logits), labels) < calibration.ece(logits, labels)
    True
"""

from __future__ import annotations

from brittle.calibration.functional import (
    BINNINGS,
    METRIC_KEYS,
    Binning,
    brier_score,
    calibration_metrics,
    classwise_ece,
    ece,
    mce,
    nll,
    rms_calibration_error,
)
from brittle.calibration.metrics import CalibrationMetrics
from brittle.calibration.reliability import plot_reliability, reliability_diagram
from brittle.calibration.temperature import TemperatureScaler, fit_temperature, split_fit_eval

__all__ = ["BINNINGS", "METRIC_KEYS", "Binning", "CalibrationMetrics", "TemperatureScaler",
           "brier_score", "calibration_metrics", "classwise_ece", "ece", "fit_temperature", "mce",
           "nll", "plot_reliability", "reliability_diagram", "rms_calibration_error",
           "split_fit_eval"]
