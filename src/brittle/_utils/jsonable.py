"""Turn settings and results into plain JSON values."""

from __future__ import annotations

from typing import Any

import torch


def to_jsonable(value: Any) -> Any:
    """Dicts, lists and scalars as they are; tensors as lists; anything else as its repr."""
    if isinstance(value, dict):
        return {str(k): to_jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [to_jsonable(v) for v in value]
    if isinstance(value, torch.Tensor):
        return value.tolist()
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    return repr(value)
