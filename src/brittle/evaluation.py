"""Clean evaluation: accuracy, per-class accuracy and miss rate with 95% intervals, confusion."""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import Any

import torch

from brittle._utils.progress import progress
from brittle._utils.stats import Rate
from brittle.data.base import ImageDataset
from brittle.errors import BrittleError
from brittle.models.classifier import Classifier, as_classifier
from brittle.types import SCHEMA_VERSION, RunInfo


@dataclass
class ClassStats:
    """One class: its sample count, accuracy and miss rate (1 - accuracy), each with a CI."""

    name: str
    n: int
    accuracy: Rate
    miss_rate: Rate

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "n": self.n, "accuracy": self.accuracy.to_dict(),
                "miss_rate": self.miss_rate.to_dict()}


@dataclass
class EvalResult:
    """Clean accuracy of a classifier on a dataset.

    ``confusion[i][j]`` counts samples of true class ``i`` predicted as ``j``.
    """

    dataset: str
    split: str
    accuracy: Rate
    per_class: list[ClassStats]
    confusion: list[list[int]]
    run: RunInfo

    def to_dict(self) -> dict[str, Any]:
        return {"schema": "brittle.eval", "schema_version": SCHEMA_VERSION,
                "dataset": self.dataset, "split": self.split,
                "accuracy": self.accuracy.to_dict(),
                "per_class": [c.to_dict() for c in self.per_class],
                "confusion": self.confusion, "run": self.run.to_dict()}

    def table(self) -> str:
        """A plain-text table: overall accuracy, then one row per class."""
        width = max(8, *(len(c.name) for c in self.per_class))
        lines = [f"{self.dataset}/{self.split}: accuracy {self.accuracy}",
                 f"{'class':<{width}}  {'n':>6}  {'accuracy':>8}  {'miss rate [95% CI]':<24}"]
        for c in self.per_class:
            ci = f"{100 * c.miss_rate.value:5.2f}% [{100 * c.miss_rate.low:.1f}, " \
                 f"{100 * c.miss_rate.high:.1f}]"
            lines.append(f"{c.name:<{width}}  {c.n:>6}  {100 * c.accuracy.value:7.2f}%  {ci}")
        return "\n".join(lines)


def evaluate(classifier: Classifier | torch.nn.Module, dataset: ImageDataset, *,
             batch_size: int = 512, seed: int = 0, show_progress: bool | None = None,
             **facts: Any) -> EvalResult:
    """Accuracy, per-class accuracy and miss rate (Wilson 95% CIs) and the confusion matrix.

    Args:
        classifier: A :class:`Classifier`, or a bare module plus ``facts`` (``input_shape``...).
        dataset: The images to evaluate on.
        batch_size: Images per forward pass.
        seed: Recorded in the result (evaluation itself is deterministic).

    Example:
        >>> from brittle import data, models  # doctest: +SKIP
        >>> clf = models.load_classifier("runs/x/model.safetensors")  # doctest: +SKIP
        >>> print(evaluate(clf, data.load("mnist", "test")).table())  # doctest: +SKIP
    """
    clf = as_classifier(classifier, **facts)
    check_compatible(clf, dataset)
    start = time.perf_counter()
    k = clf.num_classes
    confusion = torch.zeros(k, k, dtype=torch.int64)
    batches = dataset.batches(batch_size, device=clf.device)
    total = math.ceil(len(dataset) / batch_size)
    with clf.evaluating(), torch.no_grad():
        for x, y in progress(batches, enabled=show_progress, desc="evaluate", total=total):
            pred = clf(x).argmax(1)
            confusion += torch.bincount((y * k + pred).cpu(), minlength=k * k).view(k, k)
    per_class = []
    for i, name in enumerate(clf.class_names):
        n_i, hit = int(confusion[i].sum()), int(confusion[i, i])
        per_class.append(ClassStats(name, n_i, Rate.of(hit, n_i), Rate.of(n_i - hit, n_i)))
    run = RunInfo(seed=seed, device=str(clf.device),
                  seconds={"evaluate": time.perf_counter() - start})
    return EvalResult(dataset.name, dataset.split, Rate.of(int(confusion.trace()), len(dataset)),
                      per_class, confusion.tolist(), run)


def check_compatible(classifier: Classifier, dataset: ImageDataset) -> None:
    """Refuse, in one line, a dataset whose images or classes do not fit the classifier."""
    if classifier.input_shape != dataset.input_shape:
        raise BrittleError(f"model expects images of shape {classifier.input_shape} but "
                           f"{dataset.name} has {dataset.input_shape}")
    if classifier.num_classes != dataset.num_classes:
        raise BrittleError(f"model has {classifier.num_classes} classes but {dataset.name} has "
                           f"{dataset.num_classes}")
    if len(dataset) == 0:
        raise BrittleError(f"{dataset.name} is empty")
