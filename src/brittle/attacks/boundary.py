"""First-order distance to the decision boundary, the cheap guess that guides robustness curves.

Linearizing the classification margin ``m(x)`` around the clean image, the smallest
perturbation that brings it to zero has size ``m(x) / ||grad m(x)||_*`` in the attack's norm,
where ``||.||_*`` is the dual norm (L1 for Linf, L2 for L2, Linf for L1). This is the first
step of DeepFool (Moosavi-Dezfooli et al. 2016, "DeepFool: a simple and accurate method to fool
deep neural networks") against the closest other class: one forward and one backward pass.
"""

from __future__ import annotations

import torch

from brittle.attacks.base import frozen
from brittle.attacks.functional import Norm, attack_loss
from brittle.models.classifier import Classifier

_DUAL: dict[str, float] = {"linf": 1.0, "l2": 2.0, "l1": float("inf")}


def first_order_distance(classifier: Classifier, x: torch.Tensor, y: torch.Tensor,
                         target: torch.Tensor | None, norm: Norm, *,
                         batch_size: int = 256) -> torch.Tensor:
    """Estimated smallest perturbation ``(N,)`` that fools each sample, in the norm ``norm``.

    Untargeted, the margin is the true logit minus the best other one; with ``target``
    ``(N,)`` it is the best non-target logit minus the target's. The estimate is 0 for samples
    already fooled and ``inf`` where the margin has no gradient. Gradients flow to the input
    only, in eval mode; the classifier's modes and parameter flags are restored.

    Example:
        >>> from torch import nn
        >>> net = nn.Sequential(nn.Flatten(), nn.Linear(2, 2, bias=False))
        >>> with torch.no_grad():
        ...     _ = net[1].weight.copy_(torch.eye(2))
        >>> clf = Classifier(net, input_shape=(1, 1, 2))
        >>> first_order_distance(clf, torch.tensor([[[[0.9, 0.5]]]]), torch.tensor([0]), None,
        ...                      "linf")  # margin 0.4, gradient (1, -1): L1 norm 2
        tensor([0.2000])
    """
    parts = []
    with classifier.evaluating(), frozen(classifier):
        for start in range(0, len(x), batch_size):
            xb = x[start:start + batch_size].detach().requires_grad_(True)
            yb = y[start:start + batch_size]
            tb = target[start:start + batch_size] if target is not None else None
            with torch.enable_grad():  # the C&W margin is minus the margin left to cross
                margin = -attack_loss(classifier(xb), yb, tb, "margin")
                (grad,) = torch.autograd.grad(margin.sum(), xb)
            size = grad.flatten(1).norm(p=_DUAL[norm], dim=1)
            distance = torch.where(size > 0, margin.detach() / size, float("inf"))
            parts.append(distance.nan_to_num(nan=float("inf"), posinf=float("inf")).clamp_min(0))
    return torch.cat(parts) if parts else torch.zeros(0, device=x.device)

