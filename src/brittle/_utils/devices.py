"""Device selection."""

from __future__ import annotations

from typing import Literal

import torch

from brittle.errors import BrittleError

DeviceName = Literal["auto", "cpu", "cuda"]


def resolve_device(name: str = "auto") -> torch.device:
    """Turn ``auto``, ``cpu``, ``cuda`` or ``cuda:N`` into a device, refusing unavailable ones."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cpu":
        return torch.device("cpu")
    if name.startswith("cuda"):
        if not torch.cuda.is_available():
            raise BrittleError(f"device {name!r} requested but CUDA is not available here")
        return torch.device(name)
    raise BrittleError(f"unknown device {name!r}; use auto, cpu, cuda or cuda:N")
