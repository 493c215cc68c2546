"""The first-order distance to the decision boundary: exact for a linear model, in every norm."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from brittle.attacks.boundary import first_order_distance
from brittle.attacks.functional import Norm
from brittle.models.classifier import Classifier

DIRECTION = {"linf": lambda g: g.sign(),
             "l2": lambda g: g / g.norm(),
             "l1": lambda g: torch.zeros_like(g).scatter(0, g.abs().argmax()[None],
                                                         g[g.abs().argmax()].sign()[None])}


def _linear(weight_scale: float = 0.2) -> tuple[Classifier, nn.Linear]:
    torch.manual_seed(0)
    layer = nn.Linear(16, 5)
    with torch.no_grad():
        layer.weight.mul_(weight_scale)
    return Classifier(nn.Sequential(nn.Flatten(), layer), input_shape=(1, 4, 4)), layer


def _margin_flips(clf: Classifier, layer: nn.Linear, x: torch.Tensor, y: torch.Tensor,
                  ref: torch.Tensor, scale: float, norm: Norm, targeted: bool) -> torch.Tensor:
    """Step each sample by ``scale`` times its estimated distance along the steepest
    descent direction of its margin, and report whether the margin changed sign."""
    distance = first_order_distance(clf, x, y, ref if targeted else None, norm)
    w = layer.weight.detach()
    flipped = []
    for i in range(len(x)):
        with torch.no_grad():
            z = clf(x[i:i + 1])[0]
        other = z.clone()
        other[ref[i]] = float("-inf")
        rival = int(other.argmax())
        sign = -1.0 if targeted else 1.0  # the margin the attack has to drive to zero
        grad = sign * (w[ref[i]] - w[rival])
        step = -scale * distance[i] * DIRECTION[norm](grad)
        with torch.no_grad():
            moved = clf(x[i:i + 1] + step.view(1, 1, 4, 4))[0]
        flipped.append(bool(sign * (moved[ref[i]] - moved[rival]) <= 1e-6))
    return torch.tensor(flipped)


@pytest.mark.parametrize("norm", ["linf", "l2", "l1"])
@pytest.mark.parametrize("targeted", [False, True])
def test_linear_model_flips_exactly_at_the_estimate(norm: Norm, targeted: bool) -> None:
    clf, layer = _linear()
    torch.manual_seed(1)
    x = 0.25 + 0.5 * torch.rand(12, 1, 4, 4)  # away from the bounds, which the estimate ignores
    with torch.no_grad():
        z = clf(x)
    y = z.argmax(1)
    ref = z.argsort(1)[:, 0] if targeted else y  # targeted: the least likely class
    assert _margin_flips(clf, layer, x, y, ref, 1.001, norm, targeted).all()
    assert not _margin_flips(clf, layer, x, y, ref, 0.999, norm, targeted).any()


def test_fooled_samples_are_at_distance_zero_and_flat_models_at_infinity() -> None:
    clf, _ = _linear()
    x = torch.full((3, 1, 4, 4), 0.5)
    y = clf(x).argmax(1)
    wrong = (y + 1) % 5
    assert torch.equal(first_order_distance(clf, x, wrong, None, "linf"), torch.zeros(3))
    flat, _ = _linear(weight_scale=0.0)  # constant logits: no gradient to follow
    assert torch.isinf(first_order_distance(flat, x, y, None, "l2")).all()


def test_modes_and_parameter_flags_are_restored() -> None:
    clf, _ = _linear()
    clf.train()
    first_order_distance(clf, torch.rand(4, 1, 4, 4), torch.zeros(4, dtype=torch.long), None,
                         "linf", batch_size=3)
    assert clf.training and all(p.requires_grad and p.grad is None for p in clf.parameters())
