"""Energy score (W. Liu, X. Wang, J. D. Owens and Y. Li, "Energy-based Out-of-distribution
Detection", NeurIPS 2020)."""

from __future__ import annotations

import torch

from brittle.errors import BrittleError
from brittle.models.classifier import Classifier
from brittle.ood.base import DETECTORS, Detector, Features


@DETECTORS.register("energy")
class Energy(Detector):
    """Free energy (Liu et al. 2020): score ``E(x) = -T logsumexp(z / T)``. Fits nothing.

    Args:
        temperature: ``T``; the paper's default 1.

    Example:
        >>> Energy().score({"logits": torch.tensor([[0.0, 0.0]])}).tolist()
        [-0.6931471805599453]
    """

    name = "energy"

    def __init__(self, *, temperature: float = 1.0) -> None:
        if not temperature > 0:
            raise BrittleError(f"energy: temperature must be positive, got {temperature}")
        self.temperature = float(temperature)

    def _score(self, feats: Features, *, classifier: Classifier | None,
               x: torch.Tensor | None) -> torch.Tensor:
        t = self.temperature
        return -t * torch.logsumexp(feats["logits"].double() / t, dim=1)
