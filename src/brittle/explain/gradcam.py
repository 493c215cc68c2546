"""Grad-CAM (Selvaraju et al. 2017) and Grad-CAM++ (Chattopadhay et al. 2018)."""

from __future__ import annotations

import torch

from brittle.explain.base import EXPLAINERS, Explainer, sample_chunks
from brittle.explain.functional import (
    class_activation_map,
    gradcam_pp_weights,
    gradcam_weights,
    target_scores,
    upsample,
)
from brittle.models.classifier import Classifier


@EXPLAINERS.register("gradcam")
class GradCAM(Explainer):
    """Class activation map from a conv layer's activations weighted by pooled gradients.

    "Grad-CAM: Visual Explanations from Deep Networks via Gradient-based Localization"
    (Selvaraju et al. 2017): ``relu(sum_k alpha_k A_k)`` with ``alpha_k`` the spatial mean of
    ``dY_c / dA_k``. The map at the layer's resolution is kept in ``Explanation.cam``
    ``(N, 1, h, w)``; ``maps`` is it upsampled bilinearly to the input size ``(N, 1, H, W)``.
    Only the activations get a gradient; weights never do.

    Args:
        layer: The layer: ``last_conv`` (the output of the last ``nn.Conv2d``, the default), a
            classifier alias or a module path such as ``layer3``.
        batch_size: Most images in one forward/backward pass.

    Example:
        >>> import torch
        >>> from brittle.models import build_classifier
        >>> clf = build_classifier("lenet5", input_shape=(1, 28, 28), num_classes=10)
        >>> e = GradCAM()(clf, torch.rand(2, 1, 28, 28))
        >>> e.maps.shape, e.cam.shape
        (torch.Size([2, 1, 28, 28]), torch.Size([2, 1, 10, 10]))
    """

    name = "gradcam"

    def __init__(self, *, layer: str = "last_conv", batch_size: int = 256) -> None:
        super().__init__(batch_size=batch_size)
        self.layer = layer

    def _explain(self, clf: Classifier, x: torch.Tensor, target: torch.Tensor,
                 ) -> tuple[torch.Tensor, torch.Tensor, dict[str, torch.Tensor]]:
        cams = []
        for chunk in sample_chunks(len(x), 1, self.batch_size):
            # the input joins the graph so that activations downstream of frozen weights do
            inputs = x[chunk].detach().requires_grad_(True)
            with torch.enable_grad():
                feats = clf.features(inputs, [self.layer])
                acts = feats[self.layer]
                score = target_scores(feats["logits"], target[chunk])
                (grads,) = torch.autograd.grad(score.sum(), acts)
            cams.append(class_activation_map(acts.detach(), self._weights(acts.detach(), grads)))
        cam = torch.cat(cams)
        return upsample(cam, (x.shape[2], x.shape[3])), cam, {}

    def _weights(self, acts: torch.Tensor, grads: torch.Tensor) -> torch.Tensor:
        return gradcam_weights(grads)


@EXPLAINERS.register("gradcam_plus_plus")
class GradCAMPlusPlus(GradCAM):
    """Grad-CAM++: channel weights from positive gradients with closed-form pixel weights.

    "Grad-CAM++: Improved Visual Explanations for Deep Convolutional Networks" (Chattopadhay et
    al. 2018). The class score goes through ``exp`` so that its higher derivatives follow from
    the first-order gradient (see :func:`~brittle.explain.functional.gradcam_pp_weights`); this
    gives better maps when several instances of the class appear. Same layer choice and outputs
    as :class:`GradCAM`.

    The closed form assumes non-negative activations (the paper's post-ReLU feature maps). At a
    pre-activation layer such as ``last_conv``, a channel whose activations sum to a negative
    value can get negative or very large pixel weights; name the activation that follows the
    conv (e.g. ``layer="relu2"`` for ``lenet5``, ``layer="layer3"`` for the CIFAR ResNets) to
    stay in the paper's setting.

    Args:
        layer: The layer (``last_conv`` by default), as for :class:`GradCAM`.
        batch_size: Most images in one forward/backward pass.

    Example:
        >>> import torch
        >>> from brittle.models import build_classifier
        >>> clf = build_classifier("lenet5", input_shape=(1, 28, 28), num_classes=10)
        >>> GradCAMPlusPlus()(clf, torch.rand(2, 1, 28, 28)).maps.shape
        torch.Size([2, 1, 28, 28])
    """

    name = "gradcam_plus_plus"

    def _weights(self, acts: torch.Tensor, grads: torch.Tensor) -> torch.Tensor:
        return gradcam_pp_weights(acts, grads)
