"""ResNets for 32x32 images (He et al., 2016, section 4.2).

K. He, X. Zhang, S. Ren and J. Sun, "Deep Residual Learning for Image Recognition", CVPR 2016.

The CIFAR-10 networks of the paper: a 3x3 conv with 16 filters, then three stages of ``n``
basic blocks with 16, 32 and 64 filters on 32x32, 16x16 and 8x8 maps, global average pooling
and a linear classifier, ``6n + 2`` weighted layers in all. The paper uses identity shortcuts
everywhere (option A: subsample by 2 and pad the new channels with zeros), so the residual nets
have exactly the parameters of their plain counterparts: 0.27M, 0.46M, 0.66M and 0.85M for
ResNet-20/32/44/56.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Literal

import torch
import torch.nn.functional as F
from torch import nn

from brittle.errors import ModelError
from brittle.models.zoo import MODELS, check_positive

Shortcut = Literal["A", "B"]


class PadShortcut(nn.Module):
    """Option-A shortcut: keep every ``stride``-th pixel and zero-pad the new channels.

    Parameter-free, so ResNet-20 has the 0.27M parameters of Table 6. Shapes:
    ``(N, C_in, H, W)`` -> ``(N, C_out, ceil(H / stride), ceil(W / stride))``.
    """

    def __init__(self, in_channels: int, out_channels: int, stride: int) -> None:
        super().__init__()
        self.stride = stride
        self.extra = out_channels - in_channels

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x[:, :, ::self.stride, ::self.stride]
        # split the zero channels evenly before and after the existing ones
        return F.pad(x, (0, 0, 0, 0, self.extra // 2, self.extra - self.extra // 2))


class BasicBlock(nn.Module):
    """Two 3x3 conv-BN layers with a shortcut: ``relu(bn2(conv2(relu(bn1(conv1(x))))) + s(x))``.

    Args:
        in_channels: Channels of the input ``(N, C_in, H, W)``.
        out_channels: Channels of the output ``(N, C_out, H / stride, W / stride)``.
        stride: Stride of the first conv (2 at the start of stages 2 and 3).
        shortcut: ``"A"`` (zero-padding identity) or ``"B"`` (1x1 conv + BN projection),
            used only where the shape changes.
    """

    def __init__(self, in_channels: int, out_channels: int, *, stride: int = 1,
                 shortcut: Shortcut = "A") -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, out_channels, 3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(out_channels)
        self.relu1 = nn.ReLU()
        self.conv2 = nn.Conv2d(out_channels, out_channels, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(out_channels)
        self.relu2 = nn.ReLU()
        self.shortcut: nn.Module = nn.Identity()
        if stride != 1 or in_channels != out_channels:
            self.shortcut = (PadShortcut(in_channels, out_channels, stride) if shortcut == "A"
                             else nn.Sequential(nn.Conv2d(in_channels, out_channels, 1,
                                                          stride=stride, bias=False),
                                                nn.BatchNorm2d(out_channels)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.relu1(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return self.relu2(out + self.shortcut(x))


class CifarResNet(nn.Module):
    """ResNet-(6n+2) of He et al. (2016), section 4.2.

    Module paths: ``conv1``, ``bn1``, ``relu``, ``layer1``..``layer3`` (each ``n`` blocks),
    ``pool``, ``flatten``, ``fc``. Weights use He (Kaiming) normal initialization (He et al.,
    ICCV 2015), batch norm starts at identity.

    Args:
        depth: ``6n + 2``: 20, 32, 44, 56, 110, ...
        in_channels: Channels ``C`` of the input ``(N, C, H, W)``; 32x32 in the paper, but
            global average pooling accepts other sizes.
        num_classes: Number of logits ``K`` of the output ``(N, K)``.
        shortcut: ``"A"`` (the paper's CIFAR choice) or ``"B"`` (projection).

    Example:
        >>> import torch
        >>> CifarResNet(depth=20)(torch.rand(2, 3, 32, 32)).shape
        torch.Size([2, 10])
    """

    def __init__(self, *, depth: int, in_channels: int = 3, num_classes: int = 10,
                 shortcut: Shortcut = "A") -> None:
        super().__init__()
        if depth < 8 or (depth - 2) % 6:
            raise ModelError(f"CIFAR ResNet depth must be 6n + 2 with n >= 1, got {depth}")
        if shortcut not in ("A", "B"):
            raise ModelError(f"shortcut must be 'A' or 'B', got {shortcut!r}")
        check_positive(f"resnet{depth}", in_channels=in_channels, num_classes=num_classes)
        blocks = (depth - 2) // 6
        self.conv1 = nn.Conv2d(in_channels, 16, 3, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(16)
        self.relu = nn.ReLU()
        self.layer1 = _stage(16, 16, blocks, stride=1, shortcut=shortcut)
        self.layer2 = _stage(16, 32, blocks, stride=2, shortcut=shortcut)
        self.layer3 = _stage(32, 64, blocks, stride=2, shortcut=shortcut)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.flatten = nn.Flatten()
        self.fc = nn.Linear(64, num_classes)
        self._init_weights()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.relu(self.bn1(self.conv1(x)))
        x = self.layer3(self.layer2(self.layer1(x)))
        return self.fc(self.flatten(self.pool(x)))

    def _init_weights(self) -> None:
        for module in self.modules():
            if isinstance(module, nn.Conv2d):
                nn.init.kaiming_normal_(module.weight, mode="fan_in", nonlinearity="relu")
            elif isinstance(module, nn.BatchNorm2d):
                nn.init.ones_(module.weight)
                nn.init.zeros_(module.bias)
            elif isinstance(module, nn.Linear):
                # the logits layer has no ReLU after it: gain 1 keeps its outputs at unit scale
                nn.init.kaiming_normal_(module.weight, mode="fan_in", nonlinearity="linear")
                bound = 1 / math.sqrt(module.in_features)
                nn.init.uniform_(module.bias, -bound, bound)


def _stage(in_channels: int, out_channels: int, blocks: int, *, stride: int,
           shortcut: Shortcut) -> nn.Sequential:
    layers = [BasicBlock(in_channels, out_channels, stride=stride, shortcut=shortcut)]
    layers += [BasicBlock(out_channels, out_channels, shortcut=shortcut)
               for _ in range(blocks - 1)]
    return nn.Sequential(*layers)


def _register(depth: int, params: str) -> Callable[..., nn.Module]:
    def factory(*, in_channels: int = 3, num_classes: int = 10,
                shortcut: Shortcut = "A") -> nn.Module:
        return CifarResNet(depth=depth, in_channels=in_channels, num_classes=num_classes,
                           shortcut=shortcut)

    factory.__name__ = factory.__qualname__ = f"resnet{depth}"
    factory.__doc__ = (
        f"ResNet-{depth} for 32x32 images (He et al. 2016, sec. 4.2); {params} parameters.\n\n"
        f"Three stages of {(depth - 2) // 6} basic blocks (16/32/64 channels), option-A\n"
        "shortcuts, batch norm, global average pooling. Input ``(N, C, H, W)``, output\n"
        "``(N, K)``.\n\n"
        "Args:\n"
        "    in_channels: Channels ``C`` of the input.\n"
        "    num_classes: Number of logits ``K``.\n"
        "    shortcut: ``\"A\"`` (zero-padding identity, the paper's CIFAR nets) or ``\"B\"``\n"
        "        (1x1 projection where the shape changes; +2,752 parameters).\n\n"
        "Example:\n"
        "    >>> import torch\n"
        f"    >>> resnet{depth}()(torch.rand(2, 3, 32, 32)).shape\n"
        "    torch.Size([2, 10])\n"
    )
    return MODELS.register(f"resnet{depth}")(factory)


resnet20 = _register(20, "0.27M")
resnet32 = _register(32, "0.46M")
resnet44 = _register(44, "0.66M")
resnet56 = _register(56, "0.85M")
