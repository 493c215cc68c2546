"""ViM, Virtual-logit Matching (H. Wang, Z. Li, L. Feng and W. Zhang, "ViM: Out-Of-Distribution
with Virtual-logit Matching", CVPR 2022)."""

from __future__ import annotations

import logging

import torch

from brittle.errors import BrittleError
from brittle.models.classifier import Classifier
from brittle.ood.base import DETECTORS, Detector, Features

log = logging.getLogger(__name__)


@DETECTORS.register("vim")
class ViM(Detector):
    """The norm of a feature's residual off the principal subspace, matched to the logits
    (Wang et al. 2022).

    Fit, on training features ``f`` ``(N, D)`` of the layer that feeds the last linear layer:

    1. The last layer ``z = W f + b`` is recovered by least squares from the training features
       and logits (exact for a linear head, so no access to the model is needed; a relative
       residual above 1e-3 is logged as a warning because ViM then does not apply).
    2. The origin ``o = -pinv(W) b``; the principal subspace is spanned by the ``dim`` leading
       eigenvectors of the uncentred covariance of ``f - o``; ``R`` spans the rest.
    3. ``alpha = mean(max_k z_k) / mean(||(f - o) R||)`` over the training data.

    Score: ``alpha * ||(f - o) R|| - logsumexp(z)`` (the negated ViM score, higher = more OOD).

    Args:
        layer: The feature layer that feeds the last linear layer (``"penultimate"``).
        dim: Dimension of the principal subspace; default as in the paper: 1000 if
            ``D >= 1500``, 512 if ``D >= 768``, else ``D // 2``.

    Example:
        >>> f = torch.randn(200, 8)
        >>> feats = {"penultimate": f, "logits": f @ torch.randn(8, 3) + 1.0}
        >>> ViM().fit(feats, torch.zeros(200, dtype=torch.long)).score(feats).shape
        torch.Size([200])
    """

    name = "vim"
    needs_fit = True

    def __init__(self, *, layer: str = "penultimate", dim: int | None = None) -> None:
        if dim is not None and dim < 1:
            raise BrittleError(f"vim: dim must be at least 1, got {dim}")
        self.layers = (layer,)
        self.dim = dim

    def _fit(self, train: Features, labels: torch.Tensor, *, seed: int) -> None:
        f, z = train[self.layers[0]].double(), train["logits"].double()
        d = f.shape[1]
        dim = self.dim if self.dim is not None else default_dim(d)
        if dim >= d:
            raise BrittleError(f"vim: dim={dim} leaves no residual in {d} feature dimensions")
        weight, bias = _fit_linear_head(f, z)
        self._origin = -torch.linalg.pinv(weight) @ bias
        centred = f - self._origin
        eigvals, eigvecs = torch.linalg.eigh(centred.T @ centred / len(f))
        self._residual = eigvecs[:, eigvals.argsort(descending=True)[dim:]]
        vlogit = (centred @ self._residual).norm(dim=1)
        self._alpha = float(z.amax(dim=1).mean() / vlogit.mean().clamp_min(1e-12))

    def _score(self, feats: Features, *, classifier: Classifier | None,
               x: torch.Tensor | None) -> torch.Tensor:
        f, z = feats[self.layers[0]].double(), feats["logits"].double()
        vlogit = ((f - self._origin) @ self._residual).norm(dim=1) * self._alpha
        return vlogit - torch.logsumexp(z, dim=1)


def default_dim(d: int) -> int:
    """The paper's principal-subspace dimension for ``d`` feature dimensions."""
    if d >= 1500:
        return 1000
    if d >= 768:
        return 512
    return max(1, d // 2)


def _fit_linear_head(f: torch.Tensor, z: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """``W`` ``(K, D)`` and ``b`` ``(K,)`` minimising ``||f W^T + b - z||`` (minimum norm)."""
    design = torch.cat([f, torch.ones(len(f), 1, dtype=f.dtype)], dim=1)
    solution = torch.linalg.lstsq(design, z, driver="gelsd").solution
    residual = (design @ solution - z).norm() / z.norm().clamp_min(1e-12)
    if residual > 1e-3:
        log.warning("vim: the logits are not an affine function of the features (relative "
                    "residual %.2g); is the layer the input of the last linear layer?",
                    float(residual))
    return solution[:-1].T, solution[-1]
