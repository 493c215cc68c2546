"""Keep freed tensor memory in the C heap for reuse (Linux with glibc).

PyTorch's CPU tensors come from the C library's ``malloc``. glibc returns large freed blocks to
the kernel (``munmap``, or trimming the top of the heap) and raises those thresholds only as it
sees frees, so how often it does depends on the process's history. Each returned page is faulted
in again, zero-filled, when the next forward or backward pass allocates the same buffers: for a
LeNet-5 PGD-10 call on 256 MNIST images that was 40,000-77,000 minor faults and a quarter of the
wall time, and 188,000 faults per call for ResNet-20 on 128 CIFAR-10 images (docs/benchmarks.md).
Fixing the thresholds high keeps those buffers in the heap, so the same step reuses them.
"""

from __future__ import annotations

import ctypes
import os
import sys

OPT_OUT = "BRITTLE_SYSTEM_MALLOC"
"""Set this environment variable to 1 to leave the C library's allocator settings alone."""

MMAP_THRESHOLD = 32 * 2**20  # blocks up to this size come from the heap (glibc's dynamic cap)
TRIM_THRESHOLD = 128 * 2**20  # free memory the heap keeps at its top before returning any
_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3  # mallopt parameter numbers in glibc's malloc.h


def retain_freed_memory() -> bool:
    """Make glibc keep up to 128 MB of freed memory for reuse instead of handing it back.

    Process-wide and permanent, so the ``brittle`` command calls it for its own process and a
    library user may call it once at start-up. Returns whether the settings were applied
    (``False`` off Linux, without glibc's ``mallopt``, or when ``BRITTLE_SYSTEM_MALLOC=1``).

    Example:
        >>> from brittle import retain_freed_memory
        >>> retain_freed_memory() in (True, False)
        True
    """
    if os.environ.get(OPT_OUT, "0") not in ("", "0") or not sys.platform.startswith("linux"):
        return False
    try:
        mallopt = ctypes.CDLL(None).mallopt  # the C library this process already runs on
    except (OSError, AttributeError):
        return False
    mallopt.argtypes, mallopt.restype = (ctypes.c_int, ctypes.c_int), ctypes.c_int
    return bool(mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD)
                and mallopt(_M_TRIM_THRESHOLD, TRIM_THRESHOLD))
