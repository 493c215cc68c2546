"""Vanilla gradient saliency (Simonyan, Vedaldi and Zisserman 2014)."""

from __future__ import annotations

import torch

from brittle.explain.base import EXPLAINERS, Explainer
from brittle.explain.functional import target_gradients
from brittle.models.classifier import Classifier


@EXPLAINERS.register("saliency")
class Saliency(Explainer):
    """Gradient of the target logit with respect to the input pixels.

    "Deep Inside Convolutional Networks: Visualising Image Classification Models and Saliency
    Maps" (Simonyan et al. 2014). The map is the signed gradient ``(N, C, H, W)``;
    :meth:`Explanation.positive` and :meth:`Explanation.negative` split it into the pixels
    that raise and lower the target score, and the paper's display map is ``|grad|`` maxed or
    summed over channels.

    Args:
        batch_size: Most images in one forward/backward pass.

    Example:
        >>> import torch
        >>> from brittle.models import build_classifier
        >>> clf = build_classifier("lenet5", input_shape=(1, 28, 28), num_classes=10)
        >>> Saliency()(clf, torch.rand(2, 1, 28, 28)).maps.shape
        torch.Size([2, 1, 28, 28])
    """

    name = "saliency"

    def _explain(self, clf: Classifier, x: torch.Tensor, target: torch.Tensor,
                 ) -> tuple[torch.Tensor, None, dict[str, torch.Tensor]]:
        return target_gradients(clf, x, target, batch_size=self.batch_size), None, {}
