"""Mahalanobis distance to class-conditional Gaussians (K. Lee, K. Lee, H. Lee and J. Shin, "A
Simple Unified Framework for Detecting Out-of-Distribution Samples and Adversarial Attacks",
NeurIPS 2018)."""

from __future__ import annotations

import torch

from brittle.errors import BrittleError
from brittle.models.classifier import Classifier
from brittle.ood.base import DETECTORS, Detector, Features
from brittle.ood.functional import (
    class_means_and_tied_covariance,
    descend_input,
    flatten_activation,
)


@DETECTORS.register("mahalanobis")
class Mahalanobis(Detector):
    """Smallest Mahalanobis distance to a class mean under one tied covariance (Lee et al. 2018).

    Fit: the class means ``mu_c`` of the training features of one layer and their shared
    covariance ``Sigma`` (maximum likelihood, class-centred). Score:
    ``min_c (f - mu_c)^T Sigma^+ (f - mu_c)`` with the pseudo-inverse ``Sigma^+``.

    By default there is no input preprocessing and no feature ensemble (the paper's "vanilla"
    variant, as in OpenOOD). With ``eps > 0`` each image first takes the paper's step
    ``x - eps * sign(grad_x min_c M_c)`` (``eps`` in [0, 1] pixel units; needs the classifier
    and the images).

    Args:
        layer: The feature layer (``"penultimate"`` by default).
        eps: Input preprocessing magnitude; 0 turns it off.
        batch_size: Images per forward/backward pass when ``eps > 0``.

    Example:
        >>> feats = {"logits": torch.randn(100, 2), "penultimate": torch.randn(100, 3)}
        >>> det = Mahalanobis().fit(feats, torch.arange(100) % 2)
        >>> det.score(feats).shape
        torch.Size([100])
    """

    name = "mahalanobis"
    needs_fit = True

    def __init__(self, *, layer: str = "penultimate", eps: float = 0.0,
                 batch_size: int = 256) -> None:
        if eps < 0 or batch_size < 1:
            raise BrittleError("mahalanobis: eps must be non-negative and batch_size at least 1")
        self.layers = (layer,)
        self.eps = float(eps)
        self.batch_size = int(batch_size)
        self.needs_input = self.eps > 0

    def _fit(self, train: Features, labels: torch.Tensor, *, seed: int) -> None:
        k = train["logits"].shape[1]
        means, cov = class_means_and_tied_covariance(train[self.layers[0]], labels, k)
        self._means = means[torch.bincount(labels, minlength=k) > 0]  # classes seen in training
        self._precision = torch.linalg.pinv(cov, hermitian=True)

    def _score(self, feats: Features, *, classifier: Classifier | None,
               x: torch.Tensor | None) -> torch.Tensor:
        if not self.needs_input:
            return self._distance(feats[self.layers[0]])
        assert classifier is not None and x is not None
        classifier.check_input(x)
        layer = self.layers[0]

        def loss(batch: torch.Tensor) -> torch.Tensor:
            return self._distance(flatten_activation(classifier.features(batch, [layer])[layer]),
                                  on=batch.device).sum()

        scores = []
        with classifier.evaluating():
            for start in range(0, len(x), self.batch_size):
                batch = descend_input(classifier, x[start:start + self.batch_size]
                                      .to(classifier.device), loss, eps=self.eps)
                with torch.no_grad():
                    act = classifier.features(batch, [layer])[layer]
                    scores.append(self._distance(flatten_activation(act), on=batch.device).cpu())
        return torch.cat(scores) if scores else torch.empty(0, dtype=torch.float64)

    def _distance(self, f: torch.Tensor, *, on: torch.device | None = None) -> torch.Tensor:
        """``min_c (f - mu_c)^T P (f - mu_c)`` for features ``(N, D)``, in float64."""
        means, prec = self._means.to(on), self._precision.to(on)
        f = f.double()
        fp = f @ prec
        d = (fp * f).sum(1, keepdim=True) - 2 * fp @ means.T + ((means @ prec) * means).sum(1)
        return d.amin(dim=1).clamp_min(0)
