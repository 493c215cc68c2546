"""Seeded symmetric label noise, to measure how well label suspects are found.

Flipping a known share of labels to a uniformly random *other* class is the setting of
Northcutt et al. 2021 ("Confident learning", JAIR) and of our benchmark of suspects.
"""

from __future__ import annotations

import torch

from brittle.errors import BrittleError


def flip_labels(labels: torch.Tensor, fraction: float, *, num_classes: int,
                seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """Flip a seeded ``fraction`` of ``labels`` to a uniformly random other class.

    Returns:
        The noisy labels ``(N,)`` (a copy) and the indices of the flipped samples.

    Example:
        >>> noisy, flipped = flip_labels(torch.zeros(10, dtype=torch.long), 0.3, num_classes=3)
        >>> len(flipped), bool((noisy[flipped] != 0).all())
        (3, True)
    """
    if not 0 <= fraction <= 1 or num_classes < 2:
        raise BrittleError(f"need 0 <= fraction <= 1 and num_classes >= 2, got {fraction} and "
                           f"{num_classes}")
    gen = torch.Generator().manual_seed(seed)
    flipped = torch.randperm(len(labels), generator=gen)[:round(fraction * len(labels))]
    noisy = labels.clone()
    shift = torch.randint(1, num_classes, (len(flipped),), generator=gen)
    noisy[flipped] = (labels[flipped] + shift) % num_classes
    return noisy, flipped
