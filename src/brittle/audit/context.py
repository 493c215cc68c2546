"""What every audit section sees: the model, the audited images and the shared clean pass."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import torch

from brittle.audit.budget import Budget
from brittle.data.base import ImageDataset
from brittle.models.classifier import Classifier


@dataclass
class AuditContext:
    """Inputs and shared intermediate results of one audit.

    Attributes:
        classifier: The audited model.
        x: The audited test images ``(N, C, H, W)`` (on the CPU).
        y: Their labels ``(N,)``.
        features: The one clean forward pass: ``"logits"`` ``(N, K)`` plus the feature layers
            the OOD detectors need, flattened (see :func:`brittle.ood.extract_features`).
        budget: Sample sizes and attack strength.
        seed: Seeds every sampled subset and every attack.
        eps: The main Linf budget of the adversarial section.
        data_name: Name of the audited dataset.
        train: Training images (fitting OOD detectors), or ``None``.
        ood_sets: Registered dataset names used as OOD sets.
        data_dir: Where datasets are looked up.
        reference: A reference model for relative corruption error, or ``None``.
        show_progress: Progress bars (``None``: only on a terminal).
        shared: Results one section hands to another (corrupted-image logits for calibration).
    """

    classifier: Classifier
    x: torch.Tensor
    y: torch.Tensor
    features: dict[str, torch.Tensor]
    budget: Budget
    seed: int
    eps: float
    data_name: str
    train: ImageDataset | None = None
    ood_sets: tuple[str, ...] = ()
    data_dir: Any = None
    reference: Classifier | None = None
    show_progress: bool | None = None
    shared: dict[str, Any] = field(default_factory=dict)

    @property
    def logits(self) -> torch.Tensor:
        return self.features["logits"]

    @property
    def class_names(self) -> list[str]:
        return list(self.classifier.class_names)

    def attack_indices(self) -> torch.Tensor:
        """A seeded subset of ``budget.attack_n`` audited images (sorted), for the attacks."""
        n = len(self.y)
        if self.budget.attack_n >= n:
            return torch.arange(n)
        generator = torch.Generator().manual_seed(self.seed)
        return torch.randperm(n, generator=generator)[:self.budget.attack_n].sort().values
