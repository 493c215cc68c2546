"""Clean versus adversarial: what the model looks at before and after an attack."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from brittle.errors import BrittleError
from brittle.explain.base import EXPLAINERS, Explanation, validated_images
from brittle.explain.functional import minmax, spearman, ssim
from brittle.models.classifier import Classifier


@dataclass
class Comparison:
    """Maps of clean images for their true class beside adversarial images for their new class.

    Attributes:
        x: Clean images ``(N, C, H, W)``.
        x_adv: Adversarial images ``(N, C, H, W)``.
        labels: True classes ``(N,)`` (explained on ``x``).
        adv_class: Classes explained on ``x_adv`` ``(N,)`` (the adversarial prediction by
            default).
        clean: Method name to the :class:`Explanation` of ``x``.
        adversarial: Method name to the :class:`Explanation` of ``x_adv``.
        similarity: Method name to per-sample ``spearman_abs`` and ``ssim`` between the clean
            and adversarial maps ``(N,)``.
    """

    x: torch.Tensor
    x_adv: torch.Tensor
    labels: torch.Tensor
    adv_class: torch.Tensor
    clean: dict[str, Explanation]
    adversarial: dict[str, Explanation]
    similarity: dict[str, dict[str, torch.Tensor]] = field(default_factory=dict)

    def to_dict(self, class_names: Sequence[str] | None = None) -> dict[str, Any]:
        """JSON-able numbers (no maps): classes, per-method summaries and similarities."""
        def name(c: int) -> str:
            return class_names[c] if class_names else str(c)
        return {"n": len(self.labels), "labels": self.labels.tolist(),
                "adv_class": self.adv_class.tolist(),
                "label_names": [name(int(c)) for c in self.labels],
                "adv_class_names": [name(int(c)) for c in self.adv_class],
                "clean": {m: e.summary() for m, e in self.clean.items()},
                "adversarial": {m: e.summary() for m, e in self.adversarial.items()},
                "similarity": {m: {k: v.tolist() for k, v in s.items()}
                               for m, s in self.similarity.items()}}

    def figure(self, path: str | Path, *, class_names: Sequence[str] | None = None,
               count: int = 4) -> Path:
        """Write the PNG grid of :func:`brittle.explain.figures.comparison_grid`."""
        from brittle.explain.figures import comparison_grid

        return comparison_grid(self, path, class_names=class_names, count=count)


def compare_clean_adversarial(classifier: Classifier, x: torch.Tensor, y: torch.Tensor,
                              x_adv: torch.Tensor, adv_class: torch.Tensor | None = None, *,
                              methods: Sequence[str] = ("saliency", "gradcam"),
                              batch_size: int = 256) -> Comparison:
    """Explain clean images for their true class and adversarial ones for the class they fool
    the model into, with the same explainers.

    Args:
        classifier: The classifier.
        x: Clean images ``(N, C, H, W)``.
        y: True labels ``(N,)``.
        x_adv: Adversarial images ``(N, C, H, W)`` (e.g. ``AttackResult.x_adv``).
        adv_class: Class to explain on ``x_adv`` ``(N,)``; default its prediction.
        methods: Registered explainer names.
        batch_size: Most images in one forward/backward pass.

    Returns:
        A :class:`Comparison` (maps plus how similar the clean and adversarial maps are).

    Example:
        >>> from brittle import attacks
        >>> from brittle.models import build_classifier
        >>> clf = build_classifier("lenet5", input_shape=(1, 28, 28), num_classes=10)
        >>> x, y = torch.rand(2, 1, 28, 28), torch.tensor([3, 5])
        >>> result = attacks.create("pgd", eps=0.1, steps=5)(clf, x, y)
        >>> cmp = compare_clean_adversarial(clf, x, y, result.x_adv)
        >>> sorted(cmp.similarity["gradcam"])
        ['spearman_abs', 'ssim']
    """
    if not methods:
        raise BrittleError("compare_clean_adversarial needs at least one method")
    x, x_adv = validated_images(classifier, x), validated_images(classifier, x_adv)
    if x.shape != x_adv.shape:
        raise BrittleError(f"x {tuple(x.shape)} and x_adv {tuple(x_adv.shape)} differ in shape")
    if adv_class is None:
        adv_class = classifier.predict_logits(x_adv, batch_size=batch_size).argmax(1)
    clean, adversarial, similarity = {}, {}, {}
    for method in methods:
        explainer = EXPLAINERS.create(method, batch_size=batch_size)
        clean[method] = explainer(classifier, x, y)
        adversarial[method] = explainer(classifier, x_adv, adv_class)
        a, b = clean[method].maps.cpu(), adversarial[method].maps.cpu()
        pa, pb = minmax(a.abs().sum(1)), minmax(b.abs().sum(1))
        similarity[method] = {"spearman_abs": spearman(a.abs(), b.abs()), "ssim": ssim(pa, pb)}
    return Comparison(x=x.cpu(), x_adv=x_adv.cpu(), labels=clean[methods[0]].target.cpu(),
                      adv_class=adversarial[methods[0]].target.cpu(), clean=clean,
                      adversarial=adversarial, similarity=similarity)
