"""Deep nearest neighbours (Y. Sun, Y. Ming, X. Zhu and Y. Li, "Out-of-Distribution Detection
with Deep Nearest Neighbors", ICML 2022)."""

from __future__ import annotations

import torch

from brittle.errors import BrittleError
from brittle.models.classifier import Classifier
from brittle.ood.base import DETECTORS, Detector, Features
from brittle.ood.functional import knn_search, l2_normalize


@DETECTORS.register("knn")
class KNN(Detector):
    """Distance to the k-th nearest training feature after L2 normalisation (Sun et al. 2022).

    Fit stores the L2-normalised training features of one layer (the whole set; no
    subsampling). Score: the Euclidean distance from the normalised feature to its ``k``-th
    nearest stored feature, found exactly with ``torch.cdist`` in chunks.

    Args:
        layer: The feature layer (``"penultimate"``).
        k: The neighbour rank; 50 as in the paper's CIFAR-10 setting.

    Example:
        >>> feats = {"logits": torch.randn(100, 2), "penultimate": torch.randn(100, 4)}
        >>> KNN(k=5).fit(feats, torch.zeros(100, dtype=torch.long)).score(feats).shape
        torch.Size([100])
    """

    name = "knn"
    needs_fit = True

    def __init__(self, *, layer: str = "penultimate", k: int = 50) -> None:
        if k < 1:
            raise BrittleError(f"knn: k must be at least 1, got {k}")
        self.layers = (layer,)
        self.k = int(k)

    def _fit(self, train: Features, labels: torch.Tensor, *, seed: int) -> None:
        bank = train[self.layers[0]]
        if len(bank) < self.k:
            raise BrittleError(f"knn: k={self.k} needs at least {self.k} training samples, "
                               f"got {len(bank)}")
        self._bank = l2_normalize(bank)

    def _score(self, feats: Features, *, classifier: Classifier | None,
               x: torch.Tensor | None) -> torch.Tensor:
        dists, _ = knn_search(l2_normalize(feats[self.layers[0]]), self._bank, self.k)
        return dists[:, -1]
