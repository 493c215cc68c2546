"""A multilayer perceptron on flattened images: the simplest baseline of the zoo."""

from __future__ import annotations

import math
from collections import OrderedDict
from collections.abc import Sequence

from torch import nn

from brittle.errors import ModelError
from brittle.models.zoo import MODELS, check_positive

_DEFAULT_FEATURES = 28 * 28


@MODELS.register("mlp")
def mlp(*, in_features: int | None = None, input_shape: Sequence[int] | None = None,
        hidden: Sequence[int] = (256, 256), num_classes: int = 10) -> nn.Module:
    """Multilayer perceptron: flatten, hidden linear layers with ReLU, then logits.

    A fully connected baseline in the manner of Rumelhart, Hinton and Williams (1986);
    ``hidden=()`` gives multinomial logistic regression. Module paths are ``flatten``,
    ``fc1``/``relu1``, ..., and ``head`` (the logits layer).

    Args:
        in_features: Number of input values ``C * H * W``; 784 (one 28x28 channel, the zoo's
            default like :func:`~brittle.models.lenet.lenet5`) when neither is given.
        input_shape: ``(C, H, W)`` instead of ``in_features`` (give at most one of the two).
        hidden: Widths of the hidden layers.
        num_classes: Number of logits ``K``.

    Returns:
        A module mapping ``(N, C, H, W)`` (or ``(N, in_features)``) to ``(N, K)``.

    Example:
        >>> import torch
        >>> mlp(input_shape=(1, 28, 28), hidden=(64,))(torch.rand(2, 1, 28, 28)).shape
        torch.Size([2, 10])
    """
    if in_features is not None and input_shape is not None:
        raise ModelError("mlp: give exactly one of in_features or input_shape")
    if input_shape is not None:
        in_features = math.prod(int(s) for s in input_shape)
    elif in_features is None:
        in_features = _DEFAULT_FEATURES
    widths = [int(h) for h in hidden]
    check_positive("mlp", in_features=in_features, num_classes=num_classes,
                   **{f"hidden[{i}]": h for i, h in enumerate(widths)})
    layers: list[tuple[str, nn.Module]] = [("flatten", nn.Flatten())]
    fan_ins = [in_features, *widths]
    for i, fan_out in enumerate(widths, start=1):
        layers += [(f"fc{i}", nn.Linear(fan_ins[i - 1], fan_out)), (f"relu{i}", nn.ReLU())]
    layers.append(("head", nn.Linear(widths[-1] if widths else in_features, num_classes)))
    return nn.Sequential(OrderedDict(layers))
