"""Corruption throughput: images/s per corruption and severity sweep time per suite.

Times every MNIST-C corruption on MNIST test images and every CIFAR-10-C corruption on
CIFAR-10 test images, all five severities, in one process, and prints images/s per corruption
and the whole sweep's time (corruption only, no model).

    python benchmarks/corruptions.py --data-dir ../shared/data
    python benchmarks/corruptions.py --mnist 1000 --cifar 200      # quicker
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

import torch

from brittle import corruptions, data, retain_freed_memory


def sweep(x: torch.Tensor, suite: str, batch_size: int) -> dict[str, tuple[float, float]]:
    """Wall and CPU seconds per corruption for all five severities over ``x``, in batches.

    CPU time (all threads of this process) is reported too because shared machines make wall
    time noisy.
    """
    out: dict[str, tuple[float, float]] = {}
    for name in corruptions.SUITES[suite]:
        wall, cpu = time.perf_counter(), time.process_time()
        for severity in range(1, 6):
            for i in range(0, len(x), batch_size):
                corruptions.corrupt(x[i: i + batch_size], name, severity, suite=suite,
                                    seed=0, start=i)
        out[name] = (time.perf_counter() - wall, time.process_time() - cpu)
    return out


def main() -> None:
    default_dir = os.environ.get("BRITTLE_DATA") or str(
        Path(__file__).resolve().parents[2] / "shared" / "data")
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", default=default_dir)
    parser.add_argument("--mnist", type=int, default=10_000, help="MNIST test images")
    parser.add_argument("--cifar", type=int, default=1_000, help="CIFAR-10 test images")
    parser.add_argument("--batch-size", type=int, default=10_000)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    retain_freed_memory()  # as the brittle command does; every implementation here shares it
    torch.set_num_threads(args.threads)
    for ds, suite, n in (("mnist", "mnist-c", args.mnist), ("cifar10", "cifar10-c", args.cifar)):
        x = data.load(ds, "test", data_dir=args.data_dir).subset(n, seed=0).tensors()[0]
        times = sweep(x, suite, args.batch_size)
        print(f"\n{suite}: {n} images x 5 severities, {args.threads} threads")
        print(f"  {'corruption':18s} {'images/s':>10s} {'wall s':>8s} {'cpu s':>8s}")
        for name, (wall, cpu) in times.items():
            print(f"  {name:18s} {5 * n / wall:10.0f} {wall:8.2f} {cpu:8.2f}")
        wall = sum(t[0] for t in times.values())
        cpu = sum(t[1] for t in times.values())
        print(f"  {'total':18s} {5 * n * len(times) / wall:10.0f} {wall:8.2f} {cpu:8.2f}")


if __name__ == "__main__":
    main()
