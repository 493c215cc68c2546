"""Facts recorded with every result: seed, versions, device, timing."""

from __future__ import annotations

import platform
import sys
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from typing import Any

import numpy as np
import torch

from brittle._version import __version__

SCHEMA_VERSION = 1


@dataclass
class RunInfo:
    """Where and how a result was produced, so a reader can reproduce it."""

    seed: int
    device: str
    brittle_version: str = __version__
    torch_version: str = torch.__version__
    numpy_version: str = np.__version__
    python_version: str = platform.python_version()
    platform: str = platform.platform()
    command: str = " ".join(sys.argv)
    started: str = field(default_factory=lambda: datetime.now(timezone.utc).isoformat())
    seconds: dict[str, float] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)
