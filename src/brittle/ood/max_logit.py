"""Maximum logit (D. Hendrycks, S. Basart, M. Mazeika, A. Zou, J. Kwon, M. Mostajabi,
J. Steinhardt and D. Song, "Scaling Out-of-Distribution Detection for Real-World Settings",
ICML 2022)."""

from __future__ import annotations

import torch

from brittle.models.classifier import Classifier
from brittle.ood.base import DETECTORS, Detector, Features


@DETECTORS.register("max_logit")
class MaxLogit(Detector):
    """Maximum logit (Hendrycks et al. 2022): score ``-max_k z_k``. Fits nothing.

    Example:
        >>> MaxLogit().score({"logits": torch.tensor([[4.0, 0.0], [0.0, 1.0]])}).tolist()
        [-4.0, -1.0]
    """

    name = "max_logit"

    def _score(self, feats: Features, *, classifier: Classifier | None,
               x: torch.Tensor | None) -> torch.Tensor:
        return -feats["logits"].double().amax(dim=1)
