"""The allocator setting: freed tensor buffers are reused instead of faulted in again."""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys

import pytest

from brittle._utils.allocator import OPT_OUT

# One buffer a cycle, each 256 kB larger than the last (8 to 18 MB). glibc's default maps every
# one fresh from the kernel, as it is larger than any freed before (its dynamic threshold), and
# faults in all its pages; kept in the heap, a cycle faults in only the 256 kB it grew by.
PATTERN = """
import json, resource, sys, torch
from brittle import retain_freed_memory
applied = retain_freed_memory() if sys.argv[1] == "retain" else None
def cycle(i):
    return float(torch.ones((8 * 2**20 + i * 2**18) // 4)[-1])
cycle(0)
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
total = sum(cycle(i) for i in range(1, 41))
faults = resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before
print(json.dumps({"applied": applied, "faults": faults, "total": total}))
"""

glibc_only = pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="mallopt is glibc's")


def run_pattern(mode: str, **env: str) -> dict[str, float]:
    proc = subprocess.run([sys.executable, "-c", PATTERN, mode], capture_output=True, text=True,
                          check=True, env={**os.environ, **env})
    return dict(json.loads(proc.stdout))


@glibc_only
def test_retained_memory_is_reused_without_page_faults() -> None:
    default = run_pattern("default")
    retained = run_pattern("retain")
    assert retained["applied"] is True
    assert retained["total"] == default["total"] == 40.0
    assert default["faults"] > 40 * 8 * 2**20 / 4096  # at least 2,048 pages a cycle
    assert retained["faults"] < default["faults"] / 10  # about the 256 kB a cycle grew by


@glibc_only
def test_opt_out_leaves_the_allocator_alone() -> None:
    opted_out = run_pattern("retain", **{OPT_OUT: "1"})
    assert opted_out["applied"] is False
    assert opted_out["faults"] > 40 * 8 * 2**20 / 4096
