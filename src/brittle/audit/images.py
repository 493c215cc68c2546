"""Small images embedded in results as base64 PNG: lossless, and the report needs no model."""

from __future__ import annotations

import base64
import io

import numpy as np
import torch
from PIL import Image


def png_base64(image: torch.Tensor) -> str:
    """One image ``(C, H, W)`` in [0, 1] (C = 1 or 3) as a base64-encoded PNG.

    Example:
        >>> png_base64(torch.zeros(1, 2, 2))[:8]
        'iVBORw0K'
    """
    array = (image.detach().cpu().clamp(0, 1) * 255).round().to(torch.uint8).numpy()
    pixels = array[0] if array.shape[0] == 1 else np.transpose(array, (1, 2, 0))
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="PNG")
    return base64.b64encode(buffer.getvalue()).decode("ascii")
