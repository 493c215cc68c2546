"""Atomic writes: all or nothing, and files as readable as any other new file."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from brittle._utils.atomic import atomic_path, write_json


def test_written_file_gets_normal_permissions_not_private_ones(tmp_path: Path) -> None:
    mask = os.umask(0o022)
    try:
        path = write_json(tmp_path / "r.json", {"a": 1})
    finally:
        os.umask(mask)
    assert path.stat().st_mode & 0o777 == 0o644


def test_failed_block_leaves_neither_target_nor_temporary(tmp_path: Path) -> None:
    with pytest.raises(RuntimeError), atomic_path(tmp_path / "r.json") as tmp:
        tmp.write_text("half")
        raise RuntimeError("crash mid-write")
    assert list(tmp_path.iterdir()) == []
