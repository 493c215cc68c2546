"""Ambiguous examples: the model hesitates between classes, whatever the given label says.

A label suspect is an example the model confidently places in *another* class; an ambiguous
example is one it cannot place at all (two classes nearly tied, or probability spread over many).
Ambiguity uses only the probabilities, not the labels: such images are worth a look (poorly
drawn digits, two objects in one photo) but are not evidence against their label.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Literal

import torch

from brittle.errors import BrittleError

AmbiguityBy = Literal["margin", "entropy"]
DEFAULT_THRESHOLD = {"margin": 0.1, "entropy": 0.5}


def top2_margin(probabilities: torch.Tensor) -> torch.Tensor:
    """``p_top1 - p_top2`` per row, shape ``(N,)``; 0 means a tie between the two best classes.

    Example:
        >>> top2_margin(torch.tensor([[0.5, 0.4, 0.1], [1.0, 0.0, 0.0]])).tolist()
        [0.09999999403953552, 1.0]
    """
    top = probabilities.topk(2, dim=1).values
    return top[:, 0] - top[:, 1]


def normalized_entropy(probabilities: torch.Tensor) -> torch.Tensor:
    """Shannon entropy per row divided by ``log K``, shape ``(N,)``, in ``[0, 1]``.

    Example:
        >>> normalized_entropy(torch.tensor([[0.5, 0.5], [1.0, 0.0]])).tolist()
        [1.0, 0.0]
    """
    p = probabilities.clamp_min(0)
    terms = torch.where(p > 0, -p * p.clamp_min(1e-300).log(), torch.zeros_like(p))
    return terms.sum(1) / math.log(probabilities.shape[1])


@dataclass
class AmbiguousExamples:
    """Examples ranked most ambiguous first.

    Attributes:
        by: ``margin`` (low top-1/top-2 margin) or ``entropy`` (high normalized entropy).
        threshold: Examples with margin ``<=`` (or entropy ``>=``) this are listed.
        indices: ``(A,)`` row indices, most ambiguous first.
        top1, top2: ``(A,)`` the two most probable classes of each.
        margin: ``(A,)`` ``p_top1 - p_top2``.
        entropy: ``(A,)`` normalized entropy.
    """

    by: AmbiguityBy
    threshold: float
    indices: torch.Tensor
    top1: torch.Tensor
    top2: torch.Tensor
    margin: torch.Tensor
    entropy: torch.Tensor

    def __len__(self) -> int:
        return len(self.indices)

    def to_dict(self, class_names: tuple[str, ...] | None = None) -> dict[str, Any]:
        rows = []
        for rank, values in enumerate(zip(self.indices.tolist(), self.top1.tolist(),
                                          self.top2.tolist(), self.margin.tolist(),
                                          self.entropy.tolist(), strict=True), start=1):
            index, top1, top2, margin, entropy = values
            row: dict[str, Any] = {"rank": rank, "index": index, "top1": top1, "top2": top2,
                                   "margin": margin, "entropy": entropy}
            if class_names is not None:
                row["top1_name"], row["top2_name"] = class_names[top1], class_names[top2]
            rows.append(row)
        return {"by": self.by, "threshold": self.threshold, "count": len(self), "examples": rows}


def find_ambiguous(probabilities: torch.Tensor, *, by: AmbiguityBy = "margin",
                   threshold: float | None = None,
                   exclude: torch.Tensor | None = None) -> AmbiguousExamples:
    """List the examples whose prediction is ambiguous, most ambiguous first.

    Args:
        probabilities: ``(N, K)`` predicted probabilities, ``K >= 2``.
        by: ``margin`` lists top-1/top-2 margins ``<= threshold`` (default 0.1), lowest first;
            ``entropy`` lists normalized entropies ``>= threshold`` (default 0.5), highest first.
        threshold: The cut-off (see ``by``).
        exclude: ``(N,)`` bool mask of rows never listed (e.g. the label suspects).

    Returns:
        An :class:`AmbiguousExamples` (ties broken by index).

    Example:
        >>> p = torch.tensor([[0.5, 0.45, 0.05], [0.98, 0.01, 0.01], [0.35, 0.33, 0.32]])
        >>> find_ambiguous(p).indices.tolist()
        [2, 0]
    """
    if by not in DEFAULT_THRESHOLD:
        raise BrittleError(f"unknown ambiguity criterion {by!r}; use margin or entropy")
    cut = DEFAULT_THRESHOLD[by] if threshold is None else float(threshold)
    if not 0.0 <= cut <= 1.0:
        raise BrittleError(f"ambiguity threshold must be in [0, 1], got {cut}")
    margin, entropy = top2_margin(probabilities), normalized_entropy(probabilities)
    if by == "margin":
        keep, key = margin <= cut, margin
    else:
        keep, key = entropy >= cut, -entropy
    if exclude is not None:
        keep &= ~exclude
    candidates = torch.nonzero(keep).flatten()
    indices = candidates[torch.argsort(key[candidates], stable=True)]
    top = probabilities[indices].topk(2, dim=1).indices
    return AmbiguousExamples(by, cut, indices, top[:, 0], top[:, 1], margin[indices],
                             entropy[indices])
