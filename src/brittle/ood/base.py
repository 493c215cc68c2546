"""The :class:`Detector` base class, its invariants, and the detector registry."""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Any, ClassVar, final

import torch

from brittle.errors import BrittleError
from brittle.models.classifier import Classifier
from brittle.registry import Registry

Features = dict[str, torch.Tensor]
"""Layer name to activations ``(N, D)``; always has ``"logits"`` ``(N, K)``."""


class Detector:
    """An OOD detector: fitted on training features, it scores samples, higher = more OOD.

    Subclasses write :meth:`_fit` (when they learn something from the training data) and
    :meth:`_score`; the final :meth:`fit` and :meth:`score` check the inputs once: every layer
    in :attr:`layers` is present, all features have the same number of rows, labels are valid,
    the detector is fitted, and the scores come back as float64 ``(N,)`` on the CPU.

    Public instance attributes are hyperparameters (reported by :meth:`settings`); fitted
    state lives in private attributes.

    Attributes:
        name: The registry name.
        layers: Feature layers needed besides ``"logits"``.
        needs_input: Whether :meth:`score` needs the classifier and the images (ODIN).
        needs_fit: Whether :meth:`fit` must run before :meth:`score`.

    Example:
        >>> from brittle import ood
        >>> det = ood.create("energy")
        >>> det.score({"logits": torch.tensor([[9.0, 0.0], [0.1, 0.0]])}).argmax().item()
        1
    """

    name: ClassVar[str] = "detector"
    layers: tuple[str, ...] = ()
    needs_input: bool = False
    needs_fit: ClassVar[bool] = False

    _fitted: bool = False
    _dims: Mapping[str, int] = MappingProxyType({})  # feature widths seen by fit

    @final
    def fit(self, train: Features, labels: torch.Tensor, *, seed: int = 0) -> Detector:
        """Fit on features of **training** data ``train`` with their labels ``(N,)``.

        Detectors that only read logits learn nothing and return at once.

        Args:
            train: Features of the training images (see :func:`~brittle.ood.extract_features`).
            labels: Integer class labels ``(N,)`` in ``[0, K)``.
            seed: Seed of any random choice made while fitting (e.g. a calibration split).

        Returns:
            ``self``.
        """
        n = self._check_features(train)
        labels = torch.as_tensor(labels).detach().cpu()
        if labels.shape != (n,) or labels.is_floating_point():
            raise BrittleError(f"{self.name}: labels must be integers of shape ({n},), "
                               f"got {labels.dtype} {tuple(labels.shape)}")
        k = train["logits"].shape[1]
        if n and (labels.min() < 0 or labels.max() >= k):
            raise BrittleError(f"{self.name}: labels must lie in [0, {k - 1}]")
        self._dims = {layer: int(train[layer].shape[1]) for layer in ("logits", *self.layers)}
        if self.needs_fit:
            self._fit({name: t.detach().cpu().float() for name, t in train.items()},
                      labels.long(), seed=seed)
        self._fitted = True
        return self

    @final
    def score(self, feats: Features, *, classifier: Classifier | None = None,
              x: torch.Tensor | None = None) -> torch.Tensor:
        """OOD scores ``(N,)`` (float64, CPU), higher = more OOD.

        Args:
            feats: Features of the samples to score (same layers as for :meth:`fit`).
            classifier: The classifier; required when :attr:`needs_input`.
            x: The images ``(N, C, H, W)`` behind ``feats``; required when :attr:`needs_input`.
        """
        n = self._check_features(feats)
        if self.needs_fit and not self._fitted:
            raise BrittleError(f"{self.name} detector is not fitted; call "
                               "fit(train_features, labels) first")
        for layer, dim in self._dims.items():
            if feats[layer].shape[1] != dim:
                raise BrittleError(f"{self.name}: feature {layer!r} has "
                                   f"{feats[layer].shape[1]} dimensions, fitted on {dim}")
        if self.needs_input:
            if classifier is None or x is None:
                raise BrittleError(f"{self.name} perturbs the inputs: pass classifier= and x=")
            if len(x) != n:
                raise BrittleError(f"{self.name}: {len(x)} images for {n} feature rows")
        scores = self._score({name: t.detach().cpu().float() for name, t in feats.items()},
                             classifier=classifier, x=x)
        if scores.shape != (n,):
            raise RuntimeError(f"{self.name} returned scores of shape {tuple(scores.shape)} "
                               f"for {n} samples")
        return scores.detach().to("cpu", torch.float64)

    def settings(self) -> dict[str, Any]:
        """The hyperparameters (public instance attributes), for results and reports."""
        out = {"layers": list(self.layers)}
        out.update({k: list(v) if isinstance(v, tuple) else v
                    for k, v in vars(self).items()
                    if not k.startswith("_") and k != "needs_input"})
        return out

    def _fit(self, train: Features, labels: torch.Tensor, *, seed: int) -> None:
        """Learn from training features (float32, CPU); only called when :attr:`needs_fit`."""

    def _score(self, feats: Features, *, classifier: Classifier | None,
               x: torch.Tensor | None) -> torch.Tensor:
        raise NotImplementedError

    def _check_features(self, feats: Mapping[str, torch.Tensor]) -> int:
        if "logits" not in feats:
            raise BrittleError(f"{self.name}: features lack 'logits'")
        for layer in self.layers:
            if layer not in feats:
                have = ", ".join(feats)
                raise BrittleError(f"{self.name} needs feature layer {layer!r}, missing from the "
                                   f"features (have: {have}); extract it with "
                                   "extract_features(..., layers=detector.layers)")
        n = len(feats["logits"])
        for layer in ("logits", *self.layers):
            t = feats[layer]
            if t.ndim != 2 or len(t) != n:
                raise BrittleError(f"{self.name}: feature {layer!r} must be (N={n}, D), "
                                   f"got {tuple(t.shape)}")
        return n

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.settings().items())
        return f"{type(self).__name__}({args})"


DETECTORS: Registry[Detector] = Registry("OOD detector")
