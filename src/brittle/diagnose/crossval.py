"""Out-of-sample predicted probabilities by K-fold cross-training.

Confident learning needs, for every training example, a prediction from a model that never saw
that example: a model scores its own training labels as nearly certain, hiding the suspects.
Here ``K`` models, each trained with the same recipe on ``K - 1`` folds, predict their
held-out fold (stratified, seeded folds).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

import torch

from brittle import data, models, recipes
from brittle._utils.devices import resolve_device
from brittle._utils.progress import progress
from brittle.data.base import ImageDataset
from brittle.errors import BrittleError

log = logging.getLogger(__name__)


def stratified_folds(labels: torch.Tensor, folds: int, *, seed: int = 0) -> torch.Tensor:
    """Assign each example to one of ``folds`` folds, each class spread evenly over the folds.

    Within every class the examples are shuffled (seeded) and dealt out in turn, so fold sizes
    per class differ by at most one.

    Returns:
        ``(N,)`` int64 fold ids in ``[0, folds)``.

    Example:
        >>> fold = stratified_folds(torch.tensor([0, 0, 0, 0, 1, 1]), 2)
        >>> torch.bincount(fold).tolist(), torch.bincount(fold[4:]).tolist()
        ([3, 3], [1, 1])
    """
    if folds < 2:
        raise BrittleError(f"need at least 2 folds, got {folds}")
    if len(labels) < folds:
        raise BrittleError(f"{len(labels)} examples cannot be split into {folds} folds")
    generator = torch.Generator().manual_seed(seed)
    fold = torch.empty(len(labels), dtype=torch.int64)
    offset = 0  # continue dealing where the previous class stopped, to balance total sizes
    for label in torch.unique(labels).tolist():
        members = torch.nonzero(labels == label).flatten()
        members = members[torch.randperm(len(members), generator=generator)]
        fold[members] = (torch.arange(len(members)) + offset) % folds
        offset = (offset + len(members)) % folds
    return fold


def out_of_sample_probabilities(dataset: ImageDataset, *, arch: str = "lenet5",
                                recipe: str = "standard", folds: int = 5, epochs: int = 3,
                                seed: int = 0, device: str = "auto",
                                show_progress: bool | None = None, eval_batch_size: int = 512,
                                **train_kwargs: Any) -> torch.Tensor:
    """Predicted probabilities for every example from a model that never trained on it.

    Trains ``folds`` models (``brittle.models.build_classifier(arch)`` trained by ``recipe``
    for ``epochs``), model ``f`` on every fold but ``f``, and lets it predict fold ``f``.

    Args:
        dataset: The labelled images ``(N, C, H, W)`` to score (usually a training set).
        arch: Architecture name from :func:`brittle.models.names`.
        recipe: Training recipe name from :func:`brittle.recipes.names`.
        folds: Number of folds ``K >= 2``; each model trains on ``(K - 1) / K`` of the data.
        epochs: Training epochs of each model.
        seed: Seeds the folds, the initial weights and the data order.
        device: ``auto``, ``cpu``, ``cuda`` or ``cuda:N``.
        show_progress: Progress bars (``None``: only on a terminal).
        eval_batch_size: Images per forward pass when predicting.
        **train_kwargs: Further recipe settings (``lr``, ``batch_size``, ``optimizer``, ...).

    Returns:
        ``(N, K)`` float32 probabilities on the CPU, rows in the order of ``dataset``.

    Example:
        >>> from brittle import data
        >>> ds = data.load("digits", "train").subset(200)
        >>> probs = out_of_sample_probabilities(ds, folds=2, epochs=1, show_progress=False)
        >>> tuple(probs.shape)
        (200, 10)
    """
    _, labels = dataset.tensors()
    fold_of = stratified_folds(labels, folds, seed=seed)
    dev = resolve_device(device)
    probabilities = torch.zeros(len(dataset), dataset.num_classes)
    bar = progress(range(folds), enabled=show_progress, desc="cross-training", unit="fold")
    for fold in bar:
        held_out = torch.nonzero(fold_of == fold).flatten()
        train_part = dataset.subset(indices=torch.nonzero(fold_of != fold).flatten())
        classifier = _train_one(train_part, arch=arch, recipe=recipe, epochs=epochs,
                                seed=seed + fold, device=dev, show_progress=show_progress,
                                train_kwargs=train_kwargs)
        x, _ = dataset.subset(indices=held_out).tensors()
        logits = classifier.predict_logits(x, batch_size=eval_batch_size)
        probabilities[held_out] = logits.double().softmax(1).float().cpu()
        log.info("fold %d/%d: trained on %d, predicted %d", fold + 1, folds, len(train_part),
                 len(held_out))
    return probabilities


def _train_one(train_part: ImageDataset, *, arch: str, recipe: str, epochs: int, seed: int,
               device: torch.device, show_progress: bool | None,
               train_kwargs: dict[str, Any]) -> models.Classifier:
    trainer = recipes.create(recipe, epochs=epochs, seed=seed, **train_kwargs)
    mean, std = _normalization(train_part)
    torch.manual_seed(seed)  # the initial weights depend on the seed alone
    classifier = models.build_classifier(arch, input_shape=train_part.input_shape,
                                         num_classes=train_part.num_classes,
                                         class_names=train_part.class_names, mean=mean, std=std)
    trainer.fit(classifier, train_part, device=device, show_progress=show_progress)
    return classifier


def _normalization(train_part: ImageDataset) -> tuple[Sequence[float], Sequence[float]]:
    """The registered mean/std of the dataset (as ``brittle train`` uses), else the fold's own."""
    if train_part.name in data.names():
        source = data.source(train_part.name)
        return source.mean, source.std
    x, _ = train_part.tensors()
    return x.mean(dim=(0, 2, 3)).tolist(), x.std(dim=(0, 2, 3)).clamp_min(1e-3).tolist()
