"""Bring any OOD image set to the classifier's input shape ``(C, H, W)``."""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F

from brittle.errors import DataError

LUMA = (0.299, 0.587, 0.114)  # ITU-R BT.601 weights of R, G, B


def convert_images(x: torch.Tensor, input_shape: Sequence[int]) -> tuple[torch.Tensor, str]:
    """Convert images ``(N, C, H, W)`` in [0, 1] to ``input_shape`` ``(C', H', W')``.

    Colour to grey uses the ITU-R BT.601 luma ``0.299 R + 0.587 G + 0.114 B``; grey to colour
    repeats the channel. Sizes change by bilinear interpolation with antialiasing
    (``F.interpolate(..., mode="bilinear", antialias=True)``, which averages when shrinking),
    straight to ``(H', W')`` (a different aspect ratio is stretched, not cropped); the result is
    clamped to [0, 1]. Both steps are linear, so their order does not matter.

    Args:
        x: Float images ``(N, C, H, W)`` in [0, 1] with ``C`` of 1 or 3.
        input_shape: The model's ``(C', H', W')``, ``C'`` of 1 or 3.

    Returns:
        The converted images ``(N, C', H', W')`` and a description of what was done
        (``"none"`` when nothing was needed), e.g. ``"resized 32x32 -> 28x28, rgb -> grey"``.

    Raises:
        DataError: Not a float ``(N, C, H, W)`` batch, or channels that cannot be converted.

    Example:
        >>> y, how = convert_images(torch.rand(2, 3, 32, 32), (1, 28, 28))
        >>> tuple(y.shape), how
        ((2, 1, 28, 28), 'resized 32x32 -> 28x28, rgb -> grey')
    """
    if len(input_shape) != 3:
        raise DataError(f"input_shape must be (C, H, W), got {tuple(input_shape)}")
    c_to, h_to, w_to = (int(s) for s in input_shape)
    if x.ndim != 4 or not x.is_floating_point():
        raise DataError(f"OOD images must be a float (N, C, H, W) batch in [0, 1], got "
                        f"{x.dtype} of shape {tuple(x.shape)}")
    c, h, w = x.shape[1:]
    steps = []
    if (h, w) != (h_to, w_to):
        steps.append(f"resized {h}x{w} -> {h_to}x{w_to}")
    if c != c_to:
        x = _convert_channels(x, c_to)
        steps.append("rgb -> grey" if c_to == 1 else "grey -> rgb")
    if (h, w) != (h_to, w_to) and len(x):
        x = F.interpolate(x, size=(h_to, w_to), mode="bilinear", align_corners=False,
                          antialias=True).clamp(0.0, 1.0)
    elif len(x) == 0:
        x = x.new_empty(0, c_to, h_to, w_to)
    return x, ", ".join(steps) or "none"


def _convert_channels(x: torch.Tensor, c_to: int) -> torch.Tensor:
    c = x.shape[1]
    if c == 3 and c_to == 1:
        weights = torch.tensor(LUMA, dtype=x.dtype, device=x.device)
        return (x * weights[None, :, None, None]).sum(dim=1, keepdim=True)
    if c == 1 and c_to == 3:
        return x.expand(-1, 3, -1, -1).contiguous()
    raise DataError(f"cannot convert {c}-channel images to {c_to} channel(s); only grey (1) "
                    "and RGB (3) convert into each other")
