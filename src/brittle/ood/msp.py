"""Maximum softmax probability (D. Hendrycks and K. Gimpel, "A Baseline for Detecting
Misclassified and Out-of-Distribution Examples in Neural Networks", ICLR 2017)."""

from __future__ import annotations

import torch

from brittle.models.classifier import Classifier
from brittle.ood.base import DETECTORS, Detector, Features


@DETECTORS.register("msp")
class MSP(Detector):
    """Maximum softmax probability (Hendrycks & Gimpel 2017): score ``-max_k softmax(z)_k``.

    Computed in float64 so that confident predictions saturate at 1.0 later than in float32
    (saturated scores become ties). Needs only the logits; fits nothing.

    Example:
        >>> MSP().score({"logits": torch.tensor([[4.0, 0.0], [0.0, 0.0]])}).tolist()
        [-0.9820137900379085, -0.5]
    """

    name = "msp"

    def _score(self, feats: Features, *, classifier: Classifier | None,
               x: torch.Tensor | None) -> torch.Tensor:
        return -feats["logits"].double().softmax(dim=1).amax(dim=1)
