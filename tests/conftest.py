"""Shared fixtures: the real dataset files (``../shared/data`` or ``$BRITTLE_DATA``)."""

from __future__ import annotations

import os
from pathlib import Path

# One intra-op thread per test process: pytest-xdist already runs one worker per core, and
# oversubscribed threads on two shared cores more than double the suite's wall time.
os.environ.setdefault("OMP_NUM_THREADS", "1")

import pytest
import torch

torch.set_num_threads(1)


def real_data_dir() -> Path:
    """``$BRITTLE_DATA`` if set, else ``shared/data`` beside the repository root."""
    env = os.environ.get("BRITTLE_DATA")
    if env:
        return Path(env).expanduser()
    return Path(__file__).resolve().parents[1].parent / "shared" / "data"


@pytest.fixture(scope="session")
def data_dir() -> Path:
    """The directory of real dataset files; tests that need it skip cleanly without it."""
    path = real_data_dir()
    if not (path / "mnist").is_dir():
        pytest.skip(f"real dataset files not found in {path}; set BRITTLE_DATA to their folder")
    return path
