"""Ensembles of classifiers that agree on what they take and what they predict."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Literal, get_args

import torch
from torch import nn

from brittle.errors import ModelError
from brittle.models.classifier import Classifier

Combine = Literal["probs", "logits"]


class Ensemble(nn.Module):
    """Average the predictions of several classifiers.

    Each member normalizes its own inputs, so the ensemble takes pixel-space images in the
    members' common bounds. ``combine`` has no default because the two choices answer
    different questions:

    * ``"probs"`` averages the softmax probabilities ``p̄ = mean_m softmax(z_m)`` and returns
      ``log p̄``, valid logits since ``softmax(log p̄) = p̄`` (the deep ensembles of
      Lakshminarayanan et al., NeurIPS 2017). This is the usual choice for calibration.
    * ``"logits"`` averages the logits ``mean_m z_m``; gradients through it are those of one
      model with averaged outputs (common when attacking ensembles).

    Args:
        members: Classifiers with the same input shape, number of classes, class names and
            bounds.
        combine: ``"probs"`` or ``"logits"``, see above.

    Shapes:
        Input ``(N, C, H, W)``; output logits ``(N, K)``.

    Example:
        >>> import torch
        >>> from brittle.models import build_classifier
        >>> nets = [build_classifier("lenet5", input_shape=(1, 28, 28), num_classes=10)
        ...         for _ in range(3)]
        >>> ens = Ensemble(nets, combine="probs").as_classifier()
        >>> ens(torch.rand(2, 1, 28, 28)).shape
        torch.Size([2, 10])
    """

    def __init__(self, members: Sequence[Classifier], *, combine: Combine) -> None:
        super().__init__()
        if combine not in get_args(Combine):
            raise ModelError(f"combine must be 'probs' or 'logits', got {combine!r}")
        members = list(members)
        if not members:
            raise ModelError("an ensemble needs at least one member")
        for i, member in enumerate(members):
            if not isinstance(member, Classifier):
                raise ModelError(f"ensemble member {i} is a {type(member).__name__}, not a "
                                 "Classifier; wrap it with brittle.models.as_classifier")
            _check_agrees(members[0], member, i)
        self.members = nn.ModuleList(members)
        self.combine: Combine = combine
        first = members[0]
        self.input_shape = first.input_shape
        self.num_classes = first.num_classes
        self.class_names = first.class_names
        self.bounds = first.bounds

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Combined logits ``(N, K)`` for images ``x`` of shape ``(N, C, H, W)``."""
        outputs = torch.stack([member(x) for member in self.members])  # (M, N, K)
        if self.combine == "logits":
            return outputs.mean(dim=0)
        # log of the mean probability, computed in log space so tiny probabilities survive
        log_probs = torch.log_softmax(outputs, dim=-1)
        return torch.logsumexp(log_probs, dim=0) - math.log(len(self.members))

    def as_classifier(self) -> Classifier:
        """This ensemble as a :class:`Classifier` (no extra normalization: members do theirs)."""
        card = {"ensemble": {"combine": self.combine,
                             "members": [dict(m.card) for m in self.members
                                         if isinstance(m, Classifier)]}}
        return Classifier(self, input_shape=self.input_shape, num_classes=self.num_classes,
                          bounds=self.bounds, class_names=self.class_names, card=card)


def _check_agrees(first: Classifier, member: Classifier, index: int) -> None:
    for fact in ("input_shape", "num_classes", "bounds", "class_names"):
        mine, theirs = getattr(first, fact), getattr(member, fact)
        if mine != theirs:
            raise ModelError(f"ensemble member {index} has {fact}={theirs}, "
                             f"member 0 has {mine}; members must agree")
