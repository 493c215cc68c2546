"""Label suspects on real MNIST with deliberately flipped labels: ours versus cleanlab.

Flips a seeded share of the MNIST training labels to a random other class, cross-trains LeNet-5
(standard recipe) on K folds for out-of-sample probabilities, then finds the suspects with
:func:`brittle.diagnose.find_suspects` and with ``cleanlab.filter.find_label_issues`` on the
same probabilities. Prints the time of each step, precision and recall of recovering the
flipped labels (Wilson 95% CIs), and the overlap of the two finders.

    nice -n 10 python benchmarks/suspects.py --data-dir ../shared/data --folds 5 --epochs 3
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import TypeVar

import numpy as np
import torch

from brittle import data, retain_freed_memory
from brittle._utils.stats import Rate
from brittle.data.base import ImageDataset
from brittle.diagnose import find_suspects, flip_labels, out_of_sample_probabilities
from brittle.diagnose.suspects import Method

T = TypeVar("T")
METHODS: tuple[Method, ...] = ("prune_by_noise_rate", "prune_by_class", "both",
                               "confident_learning")
REPEATS = 3  # finder timings are the best of this many runs


def best_time(fn: Callable[[], T]) -> tuple[T, float]:
    """``fn()`` and its fastest wall time over :data:`REPEATS` runs."""
    times = []
    for _ in range(REPEATS):
        start = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - start)
    return result, min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", default=None)
    parser.add_argument("--n", type=int, default=None, help="seeded subset (default all 60000)")
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--flip", type=float, default=0.05)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=1,
                        help="torch threads (1 is fastest on a shared 2-core machine)")
    parser.add_argument("--probabilities", type=Path,
                        help="reuse saved probabilities (.npy) instead of cross-training")
    parser.add_argument("--save-probabilities", type=Path)
    args = parser.parse_args()
    retain_freed_memory()  # as the brittle command does; every implementation here shares it
    torch.set_num_threads(args.threads)

    train = data.load("mnist", "train", data_dir=args.data_dir)
    if args.n is not None:
        train = train.subset(args.n, seed=args.seed)
    noisy, flipped = flip_labels(train.labels, args.flip, num_classes=train.num_classes,
                                 seed=args.seed)
    noisy_set = ImageDataset(train.images, noisy, train.class_names, name="mnist",
                             split="train")
    print(f"MNIST train n={len(train)}, {len(flipped)} labels flipped ({args.flip:.0%}, "
          f"seed {args.seed}), torch threads {torch.get_num_threads()}")

    if args.probabilities is not None:
        probs = torch.from_numpy(np.load(args.probabilities, allow_pickle=False))
        print(f"probabilities loaded from {args.probabilities}")
    else:
        start = time.perf_counter()
        probs = out_of_sample_probabilities(noisy_set, arch="lenet5", recipe="standard",
                                            folds=args.folds, epochs=args.epochs,
                                            seed=args.seed)
        seconds = time.perf_counter() - start
        print(f"cross-training: {args.folds} folds x {args.epochs} epochs of lenet5 "
              f"(standard recipe): {seconds:.1f} s")
        if args.save_probabilities is not None:
            np.save(args.save_probabilities, probs.numpy(), allow_pickle=False)
    predicted = probs.argmax(1)
    print(f"out-of-sample accuracy: vs true labels "
          f"{Rate.of(int((predicted == train.labels).sum()), len(train))}, "
          f"vs given (noisy) labels {Rate.of(int((predicted == noisy).sum()), len(train))}")

    try:
        from cleanlab.filter import find_label_issues
    except ImportError:
        find_label_issues = None
        print("cleanlab not installed: no comparison")
    p64, labels = probs.double().numpy(), noisy.numpy()
    truth = set(flipped.tolist())
    print(f"{'method':<20} {'found':>6} {'precision [95% CI]':>30} {'recall [95% CI]':>30} "
          f"{'ours s':>7} {'cleanlab s':>10} {'∩/theirs':>9} {'jaccard':>8}")
    for method in METHODS:
        report, ours_s = best_time(partial(find_suspects, p64, labels, method=method))
        ours = set(report.indices.tolist())
        hits = len(ours & truth)
        line = (f"{method:<20} {len(ours):>6} {Rate.of(hits, len(ours))!s:>30} "
                f"{Rate.of(hits, len(truth))!s:>30} {ours_s:>7.3f}")
        if find_label_issues is not None:
            mask, theirs_s = best_time(partial(find_label_issues, labels, p64, filter_by=method,
                                               n_jobs=1))
            theirs = set(np.flatnonzero(mask).tolist())
            common = len(ours & theirs)
            line += (f" {theirs_s:>10.3f} {common / max(len(theirs), 1):>9.4f} "
                     f"{common / max(len(ours | theirs), 1):>8.4f}")
        print(line)
    report = find_suspects(p64, labels)
    print(f"estimated share of mislabelled examples: {report.estimated_noise_rate} "
          f"(true {len(flipped) / len(train):.2%})")
    top = report.indices[:500]
    print(f"precision of the 500 top-ranked suspects: "
          f"{Rate.of(len(set(top.tolist()) & truth), len(top))}")


if __name__ == "__main__":
    main()
