"""Helpers shared by AutoAttack's components: clean logits and the sweep over target classes.

APGD-T and FAB-T (Croce & Hein 2020, "Reliable evaluation of adversarial robustness with an
ensemble of diverse parameter-free attacks") attack each sample once per target class, taking
the classes in the order of the clean logits (the most likely wrong class first) and attacking
only the samples that every earlier target failed on.
"""

from __future__ import annotations

import torch

from brittle.attacks.base import AttackContext
from brittle.errors import BrittleError


def clean_logits(ctx: AttackContext) -> torch.Tensor:
    """Logits ``(N, K)`` on the clean batch, reusing the ones the base class computed."""
    if ctx.clean_logits is not None:
        return ctx.clean_logits
    with torch.no_grad():
        return ctx.logits(ctx.x)


def ranked_targets(logits: torch.Tensor, labels: torch.Tensor, count: int) -> torch.Tensor:
    """The ``count`` most likely classes other than the true one, best first.

    Args:
        logits: Clean logits ``(N, K)``.
        labels: True labels ``(N,)``.
        count: How many targets per sample; at most ``K - 1``.

    Returns:
        Target classes ``(count, N)``; row ``r`` is the class of rank ``r + 2`` for a sample that
        is classified correctly.

    Example:
        >>> ranked_targets(torch.tensor([[0.0, 3.0, 1.0, 2.0]]), torch.tensor([1]), 2)
        tensor([[3],
                [2]])
    """
    num_classes = logits.shape[1]
    if not 1 <= count <= num_classes - 1:
        raise BrittleError(f"n_target_classes must be in [1, {num_classes - 1}], got {count}")
    others = logits.scatter(1, labels[:, None], float("-inf"))
    return others.argsort(dim=1, descending=True)[:, :count].T.contiguous()
