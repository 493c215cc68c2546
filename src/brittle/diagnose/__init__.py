"""Dataset diagnosis: label suspects (confident learning) and ambiguous examples.

Example:
    >>> import torch
    >>> from brittle.diagnose import find_suspects
    >>> p = torch.tensor([[0.9, 0.1]] * 5 + [[0.1, 0.9]] * 5 + [[0.05, 0.95]])
    >>> find_suspects(p, torch.tensor([0] * 5 + [1] * 5 + [0])).indices.tolist()
    [10]
"""

from __future__ import annotations

from brittle.diagnose.ambiguity import AmbiguousExamples, find_ambiguous
from brittle.diagnose.crossval import out_of_sample_probabilities, stratified_folds
from brittle.diagnose.noise import flip_labels
from brittle.diagnose.suspects import (
    SuspectReport,
    find_suspects,
    label_quality,
    probabilities_from_model,
)

__all__ = [
    "AmbiguousExamples",
    "SuspectReport",
    "find_ambiguous",
    "find_suspects",
    "flip_labels",
    "label_quality",
    "out_of_sample_probabilities",
    "probabilities_from_model",
    "stratified_folds",
]
