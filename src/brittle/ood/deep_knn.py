"""Deep k-Nearest Neighbors (N. Papernot and P. McDaniel, "Deep k-Nearest Neighbors: Towards
Confident, Interpretable and Robust Deep Learning", arXiv:1803.04765, 2018)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import torch

from brittle.errors import BrittleError
from brittle.models.classifier import Classifier
from brittle.ood.base import DETECTORS, Detector, Features
from brittle.ood.functional import knn_search, l2_normalize


@DETECTORS.register("deep_knn")
class DeepKNN(Detector):
    """One minus the conformal credibility of the Deep k-Nearest Neighbors classifier
    (Papernot & McDaniel 2018).

    Fit: a seeded ``calibration`` share of the training features is held out; the rest is
    indexed per layer. For a sample and each candidate label ``j``, the nonconformity
    ``alpha_j`` is the number of its ``k`` neighbours, summed over the layers, whose label is
    not ``j``. The calibration samples' nonconformities at their true labels form ``A``; the
    p-value of ``j`` is ``|{a in A : a >= alpha_j}| / |A|``. The DkNN prediction is the label
    of highest p-value and its **credibility** that p-value; the OOD score is
    ``1 - credibility``.

    Neighbours are found exactly with ``torch.cdist``. With ``metric="cosine"`` (default) the
    features of each layer are L2-normalised first, as in the authors' reference code (which
    searches them approximately by LSH); ``"euclidean"`` uses them as they are.

    Args:
        layers: Feature layers; ``"logits"`` may be one of them. The default suits any
            convolutional classifier; use
            ``layers=available_layers(classifier)`` for one without convolutions.
        k: Neighbours per layer; 75 as in the paper.
        calibration: Share of the fit data held out for calibration.
        metric: ``"cosine"`` (L2-normalised features) or ``"euclidean"`` (raw features).

    Example:
        >>> feats = {"logits": torch.randn(200, 2), "penultimate": torch.randn(200, 4)}
        >>> det = DeepKNN(layers=["penultimate", "logits"], k=5)
        >>> det.fit(feats, torch.randint(0, 2, (200,))).score(feats).shape
        torch.Size([200])
    """

    name = "deep_knn"
    needs_fit = True

    def __init__(self, *, layers: Sequence[str] = ("last_conv", "penultimate", "logits"),
                 k: int = 75, calibration: float = 0.1,
                 metric: Literal["cosine", "euclidean"] = "cosine") -> None:
        if isinstance(layers, str) or not layers:
            raise BrittleError("deep_knn: layers must be a non-empty list of layer names")
        if k < 1 or not 0.0 < calibration < 1.0:
            raise BrittleError("deep_knn: k must be at least 1 and calibration in (0, 1)")
        if metric not in ("cosine", "euclidean"):
            raise BrittleError(f"deep_knn: metric must be 'cosine' or 'euclidean', got {metric!r}")
        self.layers = tuple(dict.fromkeys(layers))
        self.k = int(k)
        self.calibration = float(calibration)
        self.metric = metric

    def _fit(self, train: Features, labels: torch.Tensor, *, seed: int) -> None:
        n = len(labels)
        n_cal = round(self.calibration * n)
        if n_cal < 1 or n - n_cal < self.k:
            raise BrittleError(f"deep_knn: {n} samples are too few for {n_cal} calibration "
                               f"samples plus k={self.k} neighbours")
        order = torch.randperm(n, generator=torch.Generator().manual_seed(seed))
        cal, ref = order[:n_cal], order[n_cal:]
        self._num_classes = train["logits"].shape[1]
        self._banks = {layer: self._prepare(train[layer][ref]) for layer in self.layers}
        self._bank_labels = labels[ref]
        cal_feats = {layer: train[layer][cal] for layer in self.layers}
        alphas = self._nonconformity(cal_feats).gather(1, labels[cal, None]).squeeze(1)
        self._calibration_alphas = alphas.sort().values

    def _score(self, feats: Features, *, classifier: Classifier | None,
               x: torch.Tensor | None) -> torch.Tensor:
        alphas = self._nonconformity(feats)
        cal = self._calibration_alphas
        at_least = len(cal) - torch.searchsorted(cal, alphas.contiguous(), right=False)
        credibility = at_least.double().amax(dim=1) / len(cal)
        return 1.0 - credibility

    def _nonconformity(self, feats: Features) -> torch.Tensor:
        """``alpha_j`` ``(N, K)``: neighbours over all layers whose label is not ``j``."""
        n = len(feats[self.layers[0]])
        agree = torch.zeros(n, self._num_classes, dtype=torch.long)
        for layer in self.layers:
            _, idx = knn_search(self._prepare(feats[layer]), self._banks[layer], self.k)
            neighbour_labels = self._bank_labels[idx]
            agree.scatter_add_(1, neighbour_labels, torch.ones_like(neighbour_labels))
        return len(self.layers) * self.k - agree

    def _prepare(self, f: torch.Tensor) -> torch.Tensor:
        return l2_normalize(f) if self.metric == "cosine" else f
