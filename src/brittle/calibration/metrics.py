"""Stateful calibration metrics over batches, mirroring :func:`functional.calibration_metrics`."""

from __future__ import annotations

import torch

from brittle.calibration import functional as CF
from brittle.errors import BrittleError


class CalibrationMetrics:
    """Accumulate logits batch by batch; :meth:`compute` equals the one-shot
    :func:`~brittle.calibration.functional.calibration_metrics` on the concatenation.

    State (float64): per-bin count, confidence sum and correct count of the top label
    (equal-width), the same per class and bin for the classwise ECE, Brier and NLL sums, and every
    sample's confidence and correctness (equal-mass bins need all confidences: ``2 N`` floats).

    Args:
        bins: Number of bins of every binned metric.

    Example:
        >>> metric = CalibrationMetrics(bins=15)
        >>> metric.update(torch.tensor([[3.0, 0.0]]), torch.tensor([0]))
        >>> metric.update(torch.tensor([[0.0, 1.0]]), torch.tensor([1]))
        >>> metric.compute()["accuracy"]
        1.0
    """

    def __init__(self, *, bins: int = 15) -> None:
        self.bins = CF.check_bins(bins)
        self.reset()

    def reset(self) -> None:
        """Forget every sample seen so far (the number of classes is set again by the next
        :meth:`update`)."""
        self.num_classes: int | None = None
        self.n = 0
        self._top = tuple(torch.zeros(self.bins, dtype=torch.float64) for _ in range(3))
        self._classwise: tuple[torch.Tensor, ...] = ()
        self._brier = self._nll = 0.0
        self._confidence: list[torch.Tensor] = []
        self._correct: list[torch.Tensor] = []

    def update(self, logits: torch.Tensor, labels: torch.Tensor) -> None:
        """Add a batch: logits ``(B, K)`` (the same ``K`` every time) and labels ``(B,)`` int64."""
        z, y = CF.check_inputs(logits, labels)
        k = z.shape[1]
        if self.num_classes is None:
            self.num_classes = k
            self._classwise = tuple(torch.zeros(k, self.bins, dtype=torch.float64)
                                    for _ in range(3))
        elif k != self.num_classes:
            raise BrittleError(f"logits have {k} classes but earlier batches had "
                               f"{self.num_classes}")
        probs = CF.probabilities(z)
        confidence, correct = CF.top_label(probs, y)
        top = CF.binned_sums(CF.equal_width_bins(confidence, self.bins), confidence, correct,
                             self.bins)
        self._top = tuple(a + b for a, b in zip(self._top, top, strict=True))
        classwise = CF.classwise_sums(probs, y, self.bins)
        self._classwise = tuple(a + b for a, b in zip(self._classwise, classwise, strict=True))
        self._brier += float(CF.brier_terms(probs, y).sum())
        self._nll += float(CF.nll_terms(z, y).sum())
        self._confidence.append(confidence)
        self._correct.append(correct)
        self.n += len(y)

    def compute(self) -> dict[str, float]:
        """The metrics of every sample since the last :meth:`reset`, keyed as
        :data:`~brittle.calibration.functional.METRIC_KEYS`."""
        if self.n == 0:
            raise BrittleError("CalibrationMetrics.compute() called before any update()")
        confidence, correct = torch.cat(self._confidence), torch.cat(self._correct)
        mass = CF.binned_sums(CF.equal_mass_bins(confidence, self.bins), confidence, correct,
                              self.bins)
        return {
            "ece": CF.calibration_error(*self._top, norm="l1"),
            "ece_equal_mass": CF.calibration_error(*mass, norm="l1"),
            "classwise_ece": CF.classwise_error(*self._classwise),
            "rms": CF.calibration_error(*self._top, norm="l2"),
            "mce": CF.calibration_error(*self._top, norm="max"),
            "brier": self._brier / self.n,
            "nll": self._nll / self.n,
            "accuracy": float(correct.sum()) / self.n,
        }
