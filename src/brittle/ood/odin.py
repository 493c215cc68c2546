"""ODIN (S. Liang, Y. Li and R. Srikant, "Enhancing The Reliability of Out-of-distribution Image
Detection in Neural Networks", ICLR 2018)."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from brittle.errors import BrittleError
from brittle.models.classifier import Classifier
from brittle.ood.base import DETECTORS, Detector, Features
from brittle.ood.functional import descend_input


@DETECTORS.register("odin")
class ODIN(Detector):
    """Temperature-scaled softmax on a slightly perturbed input (Liang et al. 2018).

    Each image takes one step ``x' = x - eps * sign(grad_x CE(z(x) / T, argmax z(x)))`` that
    raises its own top softmax score, and is scored ``-max_k softmax(z(x') / T)_k``. Fits
    nothing, but needs the classifier and the images (``needs_input``).

    The noise magnitude is in our [0, 1] pixel space. The reference code perturbs normalized
    inputs by ``eps / std_c`` per channel, which is a step of exactly ``eps`` in [0, 1] pixels;
    we differentiate through the classifier (which normalizes internally) with respect to the
    pixels and step ``eps`` there, so the classifier's mean/std never change the step. Like the
    paper, the perturbed image is not clipped to [0, 1].

    Args:
        temperature: ``T``; 1000 as in the paper.
        eps: Noise magnitude in [0, 1] pixel units; 0.0014 (the paper's CIFAR-10 setting).
            ``0`` skips the perturbation (temperature scaling alone).
        batch_size: Images per forward/backward pass.

    Example:
        >>> from torch import nn
        >>> from brittle.models import Classifier
        >>> clf = Classifier(nn.Sequential(nn.Flatten(), nn.Linear(4, 3)), input_shape=(1, 2, 2))
        >>> x = torch.rand(5, 1, 2, 2)
        >>> ODIN().score({"logits": clf(x)}, classifier=clf, x=x).shape
        torch.Size([5])
    """

    name = "odin"
    needs_input = True

    def __init__(self, *, temperature: float = 1000.0, eps: float = 0.0014,
                 batch_size: int = 256) -> None:
        if not temperature > 0 or eps < 0 or batch_size < 1:
            raise BrittleError("odin: temperature must be positive, eps non-negative and "
                               "batch_size at least 1")
        self.temperature = float(temperature)
        self.eps = float(eps)
        self.batch_size = int(batch_size)

    def _score(self, feats: Features, *, classifier: Classifier | None,
               x: torch.Tensor | None) -> torch.Tensor:
        assert classifier is not None and x is not None
        classifier.check_input(x)
        t = self.temperature

        def loss(batch: torch.Tensor) -> torch.Tensor:
            logits = classifier(batch) / t
            return F.cross_entropy(logits, logits.argmax(dim=1), reduction="sum")

        scores = []
        with classifier.evaluating():
            for start in range(0, len(x), self.batch_size):
                batch = x[start:start + self.batch_size].to(classifier.device)
                if self.eps > 0:
                    batch = descend_input(classifier, batch, loss, eps=self.eps)
                with torch.no_grad():
                    probs = (classifier(batch).double() / t).softmax(dim=1)
                scores.append(-probs.amax(dim=1).cpu())
        return torch.cat(scores) if scores else torch.empty(0, dtype=torch.float64)
