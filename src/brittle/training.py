"""Train a zoo model on a registered dataset, evaluate it and save a checkpoint: one call."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from brittle import data, models, recipes
from brittle._utils.atomic import ensure_writable_dir, write_json
from brittle._utils.devices import resolve_device
from brittle.evaluation import EvalResult, evaluate
from brittle.models.classifier import Classifier
from brittle.recipes.base import EpochStats, TrainHistory


@dataclass
class TrainOutcome:
    """The trained classifier, its training history and its clean test evaluation."""

    classifier: Classifier
    history: TrainHistory
    evaluation: EvalResult
    checkpoint: Path | None


def train(model: str, dataset: str, *, recipe: str = "standard", out: str | Path | None = None,
          data_dir: str | Path | None = None, n_train: int | None = None, seed: int = 0,
          device: str = "auto", show_progress: bool | None = None,
          on_epoch: Callable[[EpochStats], None] | None = None, **settings: Any) -> TrainOutcome:
    """Train architecture ``model`` on ``dataset`` with ``recipe``; evaluate on the test split.

    With ``out``, writes ``model.safetensors`` (with its model card) and ``train.json`` there.
    ``settings`` are the recipe's hyperparameters (``epochs``, ``lr``, ...); ``on_epoch`` sees
    each epoch's statistics as it ends.

    Example:
        >>> outcome = train("lenet5", "digits", epochs=2, out="runs/demo")  # doctest: +SKIP
        >>> outcome.evaluation.accuracy.value  # doctest: +SKIP
    """
    out_dir = ensure_writable_dir(out) if out is not None else None
    trainer = recipes.create(recipe, seed=seed, **settings)
    dev = resolve_device(device)
    train_set = data.load(dataset, "train", data_dir=data_dir)
    test_set = data.load(dataset, "test", data_dir=data_dir)
    if n_train is not None:
        train_set = train_set.subset(n_train, seed=seed)
    mean, std = _normalization(dataset, train_set)
    torch.manual_seed(seed)  # the initial weights depend on the seed alone
    clf = models.build_classifier(model, input_shape=train_set.input_shape,
                                  num_classes=train_set.num_classes,
                                  class_names=train_set.class_names, mean=mean, std=std)
    history = trainer.fit(clf, train_set, device=dev, show_progress=show_progress,
                          on_epoch=on_epoch)
    result = evaluate(clf, test_set, seed=seed, show_progress=show_progress)
    checkpoint = None
    if out_dir is not None:
        checkpoint = models.save_classifier(
            clf, out_dir / "model.safetensors", dataset=dataset, recipe=trainer.name,
            recipe_settings=trainer.settings(), seed=seed,
            clean_accuracy=result.accuracy.value)
        write_json(out_dir / "train.json", {"model": model, "dataset": dataset,
                                            "n_train": len(train_set),
                                            "history": history.to_dict(),
                                            "evaluation": result.to_dict()})
    return TrainOutcome(clf, history, result, checkpoint)


def _normalization(dataset: str, train_set: data.ImageDataset) -> tuple[list[float], list[float]]:
    """The registered per-channel mean/std, or those of the training images for a folder."""
    if dataset in data.names():
        src = data.source(dataset)
        return list(src.mean), list(src.std)
    x, _ = train_set.tensors()
    return x.mean(dim=(0, 2, 3)).tolist(), x.std(dim=(0, 2, 3)).clamp_min(1e-3).tolist()
