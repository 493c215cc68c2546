"""Explanations: saliency, SmoothGrad, Integrated Gradients, Grad-CAM, Grad-CAM++, the
Adebayo sanity check, clean versus adversarial maps and root-cause statistics.

Maps are returned raw; normalizing is for display only (:mod:`brittle.explain.figures`).

Example:
    >>> import torch
    >>> from brittle import explain
    >>> from brittle.models import build_classifier
    >>> clf = build_classifier("lenet5", input_shape=(1, 28, 28), num_classes=10)
    >>> explain.names()
    ['gradcam', 'gradcam_plus_plus', 'integrated_gradients', 'saliency', 'smoothgrad']
    >>> explanation = explain.create("gradcam")(clf, torch.rand(2, 1, 28, 28))
    >>> explanation.maps.shape
    torch.Size([2, 1, 28, 28])
"""

from __future__ import annotations

from typing import Any

from brittle.explain.base import EXPLAINERS, Explainer, Explanation, resolve_target
from brittle.explain.compare import Comparison, compare_clean_adversarial
from brittle.explain.gradcam import GradCAM, GradCAMPlusPlus
from brittle.explain.integrated_gradients import IntegratedGradients
from brittle.explain.rootcause import PairDiagnosis, confused_pairs, diagnose_pair
from brittle.explain.saliency import Saliency
from brittle.explain.sanity import MethodSanity, SanityResult, sanity_check
from brittle.explain.smoothgrad import SmoothGrad


def create(name: str, /, **kwargs: Any) -> Explainer:
    """Build the registered explainer ``name`` with keyword hyperparameters."""
    return EXPLAINERS.create(name, **kwargs)


def names() -> list[str]:
    """Registered explainer names, sorted."""
    return EXPLAINERS.names()


__all__ = ["EXPLAINERS", "Comparison", "Explainer", "Explanation", "GradCAM", "GradCAMPlusPlus",
           "IntegratedGradients", "MethodSanity", "PairDiagnosis", "Saliency", "SanityResult",
           "SmoothGrad", "compare_clean_adversarial", "confused_pairs", "create",
           "diagnose_pair", "names", "resolve_target", "sanity_check"]
