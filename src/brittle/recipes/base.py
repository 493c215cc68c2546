"""The training-recipe contract.

A recipe turns a :class:`~brittle.models.Classifier` and a training set into a trained model.
:meth:`Recipe.fit` owns the loop (seeded shuffling, optimizer, schedule, progress, history);
a recipe changes *what one batch teaches* by overriding :meth:`Recipe.batch_loss`, so
adversarial training, Mixup or distillation slot in as a registry entry of a few lines.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, fields
from typing import Any, Literal

import torch
import torch.nn.functional as F
from torch import nn

from brittle._utils.progress import progress
from brittle._utils.seeding import seed_everything
from brittle.data.base import ImageDataset
from brittle.errors import BrittleError
from brittle.evaluation import check_compatible
from brittle.models.classifier import Classifier

log = logging.getLogger(__name__)

Optimizer = Literal["sgd", "adam"]
Schedule = Literal["cosine", "onecycle", "constant"]


@dataclass(frozen=True)
class TrainConfig:
    """Hyperparameters shared by every recipe.

    Attributes:
        epochs: Passes over the training set.
        batch_size: Images per optimizer step.
        optimizer: ``sgd`` (with Nesterov-free momentum) or ``adam``.
        lr: Peak learning rate.
        momentum: SGD momentum (ignored by Adam).
        weight_decay: L2 penalty on the weights.
        schedule: ``onecycle`` (Smith & Topin 2019), ``cosine`` (Loshchilov & Hutter 2017) or
            ``constant``; stepped every batch.
        seed: Seeds initialization, data order and any randomness in the recipe.
    """

    epochs: int = 10
    batch_size: int = 128
    optimizer: Optimizer = "sgd"
    lr: float = 0.05
    momentum: float = 0.9
    weight_decay: float = 5e-4
    schedule: Schedule = "onecycle"
    seed: int = 0

    def __post_init__(self) -> None:
        checks = [
            (self.epochs >= 1, f"epochs must be >= 1, got {self.epochs}"),
            (self.batch_size >= 1, f"batch size must be >= 1, got {self.batch_size}"),
            (self.optimizer in ("sgd", "adam"), f"unknown optimizer {self.optimizer!r}"),
            (math.isfinite(self.lr) and 0 < self.lr <= 10, f"lr must be in (0, 10], got {self.lr}"),
            (0 <= self.momentum < 1, f"momentum must be in [0, 1), got {self.momentum}"),
            (0 <= self.weight_decay < 1,
             f"weight decay must be in [0, 1), got {self.weight_decay}"),
            (self.schedule in ("cosine", "onecycle", "constant"),
             f"unknown schedule {self.schedule!r}"),
        ]
        for ok, message in checks:
            if not ok:
                raise BrittleError(message)


@dataclass
class EpochStats:
    epoch: int
    loss: float
    accuracy: float
    images_per_s: float
    seconds: float
    lr: float


@dataclass
class TrainHistory:
    """What happened during :meth:`Recipe.fit`: one :class:`EpochStats` per epoch."""

    recipe: str
    settings: dict[str, Any]
    epochs: list[EpochStats] = field(default_factory=list)
    seconds: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return {"recipe": self.recipe, "settings": self.settings, "seconds": self.seconds,
                "epochs": [asdict(e) for e in self.epochs]}


class Recipe:
    """Standard supervised training; subclasses override :meth:`batch_loss`.

    Keyword arguments are :class:`TrainConfig` fields plus the recipe's own ``extra_fields``.
    """

    name = "standard"
    extra_fields: tuple[str, ...] = ()

    def __init__(self, **settings: Any) -> None:
        known = {f.name for f in fields(TrainConfig)}
        unknown = set(settings) - known - set(self.extra_fields)
        if unknown:
            names = ", ".join(sorted(unknown))
            raise BrittleError(f"recipe {self.name!r} has no setting(s) {names}")
        self.config = TrainConfig(**{k: v for k, v in settings.items() if k in known})

    def settings(self) -> dict[str, Any]:
        """All hyperparameters, as recorded in the model card."""
        extra = {name: getattr(self, name) for name in self.extra_fields}
        return {**asdict(self.config), **extra}

    def begin_epoch(self, epoch: int) -> None:
        """Called before each epoch (counting from 1): recipes with schedules of their own
        (an eps warm-up, a Mixup ramp) adjust them here."""

    def begin_fit(self, train: ImageDataset, device: torch.device | str) -> None:
        """Called once before the first epoch: recipes that keep per-sample state across
        epochs (indexed by the ``index`` of :meth:`batch_loss`) allocate it here."""

    def end_fit(self) -> None:
        """Called once after the last epoch: recipes release their per-sample state here."""

    def batch_loss(self, classifier: Classifier, x: torch.Tensor, y: torch.Tensor,
                   index: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Mean training loss and logits for one batch; the model is in train mode.
        ``index`` ``(B,)`` holds the batch's positions in the training set."""
        logits = classifier(x)
        return F.cross_entropy(logits, y), logits

    def fit(self, classifier: Classifier, train: ImageDataset, *,
            device: torch.device | str = "cpu", show_progress: bool | None = None,
            on_epoch: Callable[[EpochStats], None] | None = None) -> TrainHistory:
        """Train ``classifier`` in place on ``train`` and return the per-epoch history.

        ``on_epoch`` is called with each epoch's statistics as soon as it ends. The classifier
        is left in eval mode. Same seed, same data and same device give the
        same weights.

        Example:
            >>> from brittle import data, models  # doctest: +SKIP
            >>> ds = data.load("digits", "train")  # doctest: +SKIP
            >>> clf = models.build_classifier("lenet5", input_shape=ds.input_shape,
            ...                               num_classes=10)  # doctest: +SKIP
            >>> Recipe(epochs=2).fit(clf, ds).epochs[-1].accuracy  # doctest: +SKIP
        """
        cfg = self.config
        check_compatible(classifier, train)
        generator = seed_everything(cfg.seed)
        classifier.to(device)
        optimizer = _optimizer(classifier, cfg)
        steps_per_epoch = math.ceil(len(train) / cfg.batch_size)
        scheduler = _scheduler(optimizer, cfg, steps_per_epoch)
        history = TrainHistory(self.name, self.settings())
        self.begin_fit(train, device)
        start = time.perf_counter()
        try:  # a diverged run releases the per-sample state too
            for epoch in range(1, cfg.epochs + 1):
                self.begin_epoch(epoch)
                history.epochs.append(self._epoch(classifier, train, optimizer, scheduler,
                                                  generator, epoch, device, show_progress))
                e = history.epochs[-1]
                log.info("epoch %d/%d loss %.4f acc %.4f %.0f img/s", epoch, cfg.epochs, e.loss,
                         e.accuracy, e.images_per_s)
                if on_epoch is not None:
                    on_epoch(e)
        finally:
            self.end_fit()
        history.seconds = time.perf_counter() - start
        classifier.eval()
        return history

    def _epoch(self, classifier: Classifier, train: ImageDataset,
               optimizer: torch.optim.Optimizer, scheduler: Any, generator: torch.Generator,
               epoch: int, device: torch.device | str, show_progress: bool | None) -> EpochStats:
        classifier.train()
        total_loss, correct, seen = 0.0, 0, 0
        start = time.perf_counter()
        batches = train.indexed_batches(self.config.batch_size, shuffle=True,
                                        generator=generator, device=device)
        bar = progress(batches, enabled=show_progress, desc=f"epoch {epoch}/{self.config.epochs}",
                       total=math.ceil(len(train) / self.config.batch_size), unit="batch")
        for index, x, y in bar:
            loss, logits = self.batch_loss(classifier, x, y, index)
            if not torch.isfinite(loss):
                raise BrittleError(f"training diverged at epoch {epoch} (loss {loss.item()}); "
                                   "lower the learning rate")
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            scheduler.step()
            total_loss += loss.item() * len(y)
            correct += int((logits.argmax(1) == y).sum())
            seen += len(y)
            rate = seen / max(time.perf_counter() - start, 1e-9)
            bar.set_postfix(loss=f"{total_loss / seen:.4f}", acc=f"{correct / seen:.4f}",
                            img_s=f"{rate:.0f}")
        seconds = time.perf_counter() - start
        return EpochStats(epoch, total_loss / seen, correct / seen, seen / seconds, seconds,
                          optimizer.param_groups[0]["lr"])


def _optimizer(model: nn.Module, cfg: TrainConfig) -> torch.optim.Optimizer:
    params = [p for p in model.parameters() if p.requires_grad]
    if cfg.optimizer == "adam":
        return torch.optim.Adam(params, lr=cfg.lr, weight_decay=cfg.weight_decay)
    return torch.optim.SGD(params, lr=cfg.lr, momentum=cfg.momentum, weight_decay=cfg.weight_decay)


def _scheduler(optimizer: torch.optim.Optimizer, cfg: TrainConfig, steps_per_epoch: int) -> Any:
    total = cfg.epochs * steps_per_epoch
    if cfg.schedule == "onecycle":
        return torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=cfg.lr, total_steps=total)
    if cfg.schedule == "cosine":
        return torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=total)
    return torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: 1.0)
