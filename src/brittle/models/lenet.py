"""LeNet-5 for small grayscale or colour images (LeCun et al., 1998).

Y. LeCun, L. Bottou, Y. Bengio and P. Haffner, "Gradient-based learning applied to document
recognition", Proceedings of the IEEE 86(11), 1998.
"""

from __future__ import annotations

from collections import OrderedDict

from torch import nn

from brittle.errors import ModelError
from brittle.models.zoo import MODELS, check_positive

_PADDING = {28: 2, 32: 0}  # input side -> padding of C1, so that C1 maps are always 28x28


class LeNet5(nn.Sequential):
    """LeNet-5: two 5x5 conv/pool stages and three fully connected layers.

    The layout is LeCun et al. (1998): C1 (``conv1``) -> S2 -> C3 (``conv2``) -> S4 -> F5
    (``fc1``) -> F6 (``fc2``) -> output (``fc3``). Two modern substitutions, as in most
    current re-implementations: ReLU instead of scaled tanh, and 2x2 max pooling instead of
    trainable subsampling; C3 is fully connected to S2 (no sparse connection table) and the
    output is a linear layer (no RBF units). Inputs of 28x28 (MNIST) get a padding of 2 in
    ``conv1`` so its maps are 28x28, exactly as for the original 32x32 inputs.

    Args:
        in_channels: Channels ``C`` of the input images.
        num_classes: Number of logits ``K``.
        input_size: Side of the square input, 28 or 32.
        width: Multiplier of every layer's width (``conv1`` has ``6 * width`` channels).

    Shapes:
        Input ``(N, C, S, S)`` with ``S = input_size``; output ``(N, K)``.

    Example:
        >>> import torch
        >>> LeNet5(in_channels=1, num_classes=10)(torch.rand(2, 1, 28, 28)).shape
        torch.Size([2, 10])
    """

    def __init__(self, *, in_channels: int = 1, num_classes: int = 10, input_size: int = 28,
                 width: int = 1) -> None:
        check_positive("lenet5", in_channels=in_channels, num_classes=num_classes, width=width)
        if input_size not in _PADDING:
            raise ModelError(f"lenet5 takes 28x28 or 32x32 images, got {input_size}x{input_size}")
        c1, c3, f5, f6 = 6 * width, 16 * width, 120 * width, 84 * width
        super().__init__(OrderedDict([
            ("conv1", nn.Conv2d(in_channels, c1, 5, padding=_PADDING[input_size])),
            ("relu1", nn.ReLU()),
            ("pool1", nn.MaxPool2d(2)),
            ("conv2", nn.Conv2d(c1, c3, 5)),
            ("relu2", nn.ReLU()),
            ("pool2", nn.MaxPool2d(2)),
            ("flatten", nn.Flatten()),
            ("fc1", nn.Linear(c3 * 5 * 5, f5)),
            ("relu3", nn.ReLU()),
            ("fc2", nn.Linear(f5, f6)),
            ("relu4", nn.ReLU()),
            ("fc3", nn.Linear(f6, num_classes)),
        ]))


@MODELS.register("lenet5")
def lenet5(*, in_channels: int = 1, num_classes: int = 10, input_size: int = 28) -> nn.Module:
    """LeNet-5 (LeCun et al. 1998) with ReLU and max pooling; 28x28 or 32x32 inputs.

    About 62k parameters for one input channel and 10 classes.

    Args:
        in_channels: Channels ``C`` of the input ``(N, C, S, S)``.
        num_classes: Number of logits ``K`` of the output ``(N, K)``.
        input_size: Side ``S`` of the square input, 28 (padded, MNIST) or 32 (original).

    Example:
        >>> import torch
        >>> lenet5(in_channels=3, input_size=32)(torch.rand(2, 3, 32, 32)).shape
        torch.Size([2, 10])
    """
    return LeNet5(in_channels=in_channels, num_classes=num_classes, input_size=input_size)


@MODELS.register("lenet5-large")
def lenet5_large(*, in_channels: int = 1, num_classes: int = 10,
                 input_size: int = 28) -> nn.Module:
    """LeNet-5 four times wider (24/64 conv channels, 480/336 hidden units): the large model.

    The layout of :func:`lenet5` with every layer 4x wider, hence about 16x the parameters
    (about 0.97M for one input channel and 10 classes). It is the higher-capacity model of the
    MNIST safety study, which compares how capacity changes robustness under each recipe.

    Args:
        in_channels: Channels ``C`` of the input ``(N, C, S, S)``.
        num_classes: Number of logits ``K`` of the output ``(N, K)``.
        input_size: Side ``S`` of the square input, 28 or 32.

    Example:
        >>> import torch
        >>> lenet5_large()(torch.rand(2, 1, 28, 28)).shape
        torch.Size([2, 10])
    """
    return LeNet5(in_channels=in_channels, num_classes=num_classes, input_size=input_size,
                  width=4)
