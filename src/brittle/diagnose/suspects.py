"""Label suspects: examples whose given label the model's out-of-sample predictions argue against.

A *suspect* is not a proven labelling error: it is an example worth a human look, ranked by how
strongly the model disagrees with its label. :func:`find_suspects` applies confident learning
(Northcutt, Jiang & Chuang, JAIR 2021) to probabilities that must be out-of-sample for the rows
they score: from :func:`~brittle.diagnose.crossval.out_of_sample_probabilities` for a training
set, or from :func:`probabilities_from_model` for data the model never trained on.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import torch

from brittle._utils.stats import Rate
from brittle.data.base import ImageDataset
from brittle.diagnose import confident_learning as cl
from brittle.diagnose.ambiguity import AmbiguityBy, AmbiguousExamples, find_ambiguous
from brittle.errors import BrittleError
from brittle.evaluation import check_compatible
from brittle.models.classifier import Classifier

Method = Literal["prune_by_noise_rate", "prune_by_class", "both", "confident_learning"]
RankBy = Literal["self_confidence", "normalized_margin"]
METHODS: tuple[str, ...] = ("prune_by_noise_rate", "prune_by_class", "both",
                            "confident_learning")
RANK_BY: tuple[str, ...] = ("self_confidence", "normalized_margin")
ROW_SUM_TOLERANCE = 1e-3


@dataclass
class SuspectReport:
    """Label suspects ranked most suspicious first, with the noise estimates behind them.

    Matrices are indexed ``[given label, estimated true label]``.

    Attributes:
        method: The pruning method that flagged the suspects.
        rank_by: The score that orders them (lower = more suspicious).
        n: Number of examples examined.
        indices: ``(S,)`` row indices of the suspects, most suspicious first.
        given: ``(S,)`` their given labels.
        predicted: ``(S,)`` the model's top class for each (never the given label).
        score: ``(S,)`` the ranking score, ascending.
        p_given: ``(S,)`` probability of the given label.
        p_predicted: ``(S,)`` probability of the predicted class.
        thresholds: ``(K,)`` per-class confidence thresholds ``t_j``.
        confident_joint: ``(K, K)`` int64 confident counts ``C``.
        joint: ``(K, K)`` estimated joint distribution ``Q`` of given and true labels (sums to 1).
        noise_rates: Per given label, the estimated share of its samples whose true class is
            another one (``k`` = estimated count, ``n`` = samples with that label).
        ambiguous: Examples (not suspects) the model hesitates on.
        class_names: Names of the ``K`` classes, if known.
    """

    method: Method
    rank_by: RankBy
    n: int
    indices: torch.Tensor
    given: torch.Tensor
    predicted: torch.Tensor
    score: torch.Tensor
    p_given: torch.Tensor
    p_predicted: torch.Tensor
    thresholds: torch.Tensor
    confident_joint: torch.Tensor
    joint: torch.Tensor
    noise_rates: list[Rate]
    ambiguous: AmbiguousExamples
    class_names: tuple[str, ...] | None = None

    def __len__(self) -> int:
        return len(self.indices)

    @property
    def num_classes(self) -> int:
        return int(self.joint.shape[0])

    @property
    def noise_matrix(self) -> torch.Tensor:
        """``(K, K)`` ``P(given = i | true = j)``: each column sums to 1 (0 for an empty one)."""
        return self.joint / self.joint.sum(0, keepdim=True).clamp_min(1e-300)

    @property
    def estimated_noise_rate(self) -> Rate:
        """Estimated share of all examples whose true class differs from their given label."""
        return Rate.of(sum(r.k for r in self.noise_rates), self.n)

    def name(self, label: int) -> str:
        return self.class_names[label] if self.class_names is not None else str(label)

    def rows(self, top: int | None = None) -> list[dict[str, Any]]:
        """The ranked suspects as plain dicts (rank, index, given, predicted, score, ...)."""
        count = len(self) if top is None else min(top, len(self))
        columns = (self.indices, self.given, self.predicted, self.score, self.p_given,
                   self.p_predicted)
        rows = []
        for rank, (index, given, predicted, score, p_given, p_predicted) in enumerate(
                zip(*(c[:count].tolist() for c in columns), strict=True), start=1):
            rows.append({"rank": rank, "index": index, "given": given,
                         "given_name": self.name(given), "predicted": predicted,
                         "predicted_name": self.name(predicted), "score": score,
                         "p_given": p_given, "p_predicted": p_predicted})
        return rows

    def to_dict(self, top: int | None = None) -> dict[str, Any]:
        """JSON-able summary; ``top`` limits the listed suspects (counts stay complete)."""
        return {
            "method": self.method, "rank_by": self.rank_by, "n": self.n,
            "num_classes": self.num_classes,
            "class_names": list(self.class_names) if self.class_names is not None else None,
            "num_suspects": len(self),
            "estimated_noise_rate": self.estimated_noise_rate.to_dict(),
            "noise_rates": [{"label": i, "name": self.name(i), **rate.to_dict()}
                            for i, rate in enumerate(self.noise_rates)],
            "thresholds": self.thresholds.tolist(),
            "confident_joint": self.confident_joint.tolist(),
            "joint": self.joint.tolist(),
            "noise_matrix": self.noise_matrix.tolist(),
            "matrix_axes": ["given label", "estimated true label"],
            "suspects": self.rows(top),
            "ambiguous": self.ambiguous.to_dict(self.class_names),
        }


def find_suspects(probabilities: torch.Tensor | np.ndarray, labels: torch.Tensor | np.ndarray, *,
                  method: Method = "prune_by_noise_rate",
                  rank_by: RankBy = "self_confidence", min_per_class: int = 1,
                  class_names: Sequence[str] | None = None,
                  ambiguous_by: AmbiguityBy = "margin",
                  ambiguous_threshold: float | None = None) -> SuspectReport:
    """Find and rank the examples whose given label the predictions argue against.

    Confident learning (Northcutt, Jiang & Chuang, JAIR 2021) estimates, from per-class
    thresholds, how many samples labelled ``i`` truly belong to each class ``j``, then flags
    that many samples per method:

    - ``prune_by_noise_rate``: for each ``(i, j != i)``, the samples labelled ``i`` with the
      largest margin ``p_j - p_i`` (the default, as in cleanlab's ``find_label_issues``).
    - ``prune_by_class``: per label ``i``, the samples labelled ``i`` with the lowest ``p_i``.
    - ``both``: flagged by both of the above.
    - ``confident_learning``: the off-diagonal of the confident joint.

    A sample whose given label is the model's top class is never flagged.

    Args:
        probabilities: ``(N, K)`` out-of-sample predicted probabilities (rows sum to 1).
        labels: ``(N,)`` given labels in ``[0, K)``.
        method: Which samples to flag (see above).
        rank_by: ``self_confidence`` (``p_given``) or ``normalized_margin``
            (``(p_given - max_{j != given} p_j + 1) / 2``); lower = more suspicious.
        min_per_class: Never leave fewer than this many unflagged samples of a given label.
        class_names: Names of the ``K`` classes for the report.
        ambiguous_by: ``margin`` or ``entropy`` (see :func:`find_ambiguous`).
        ambiguous_threshold: Cut-off of the ambiguity criterion.

    Returns:
        A :class:`SuspectReport`.

    Raises:
        BrittleError: Probabilities not ``(N, K)`` rows on the simplex, labels out of range or
            of another length, or an unknown option.

    Example:
        >>> p = torch.tensor([[0.9, 0.1]] * 5 + [[0.1, 0.9]] * 5 + [[0.05, 0.95]])
        >>> report = find_suspects(p, torch.tensor([0] * 5 + [1] * 5 + [0]))
        >>> report.indices.tolist(), report.predicted.tolist()
        ([10], [1])
    """
    probs, given = check_inputs(probabilities, labels)
    _check_options(method, rank_by, min_per_class)
    k = probs.shape[1]
    if class_names is not None and len(class_names) != k:
        raise BrittleError(f"{len(class_names)} class names for {k} classes")
    thresholds = cl.confident_thresholds(probs, given)
    joint_counts = cl.confident_joint(probs, given, thresholds=thresholds)
    label_counts = torch.bincount(given, minlength=k)
    calibrated = cl.calibrate_joint(joint_counts, label_counts)
    flagged = _flag(method, probs, given, thresholds, calibrated, min_per_class)
    flagged &= ~cl.given_is_top(probs, given)
    suspects = _ranked(torch.nonzero(flagged).flatten(), probs, given, rank_by)
    predicted = probs[suspects].argmax(1)
    rows = torch.arange(len(suspects))
    noise = [Rate.of(int(calibrated[i].sum() - calibrated[i, i]), int(label_counts[i]))
             for i in range(k)]
    return SuspectReport(
        method=method, rank_by=rank_by, n=len(given), indices=suspects,
        given=given[suspects], predicted=predicted,
        score=label_quality(probs[suspects], given[suspects], rank_by),
        p_given=probs[suspects, given[suspects]], p_predicted=probs[suspects][rows, predicted],
        thresholds=thresholds, confident_joint=joint_counts,
        joint=calibrated.to(torch.float64) / len(given), noise_rates=noise,
        ambiguous=find_ambiguous(probs, by=ambiguous_by, threshold=ambiguous_threshold,
                                 exclude=flagged),
        class_names=tuple(class_names) if class_names is not None else None)


def label_quality(probabilities: torch.Tensor, labels: torch.Tensor,
                  rank_by: RankBy) -> torch.Tensor:
    """Per-example label quality, shape ``(N,)`` in ``[0, 1]``; lower = more suspicious.

    Example:
        >>> p = torch.tensor([[0.2, 0.7, 0.1]])
        >>> label_quality(p, torch.tensor([0]), "normalized_margin").tolist()
        [0.25]
    """
    p_given = probabilities.gather(1, labels[:, None]).squeeze(1)
    if rank_by == "self_confidence":
        return p_given
    others = probabilities.scatter(1, labels[:, None], float("-inf")).max(1).values
    return (p_given - others + 1) / 2


def probabilities_from_model(classifier: Classifier, dataset: ImageDataset, *,
                             batch_size: int = 512) -> torch.Tensor:
    """Softmax probabilities ``(N, K)`` of ``classifier`` on ``dataset`` (on the CPU).

    Out-of-sample only when the classifier never trained on ``dataset`` (e.g. a test split).

    Example:
        >>> from brittle import data, models  # doctest: +SKIP
        >>> clf = models.load_classifier("runs/model.safetensors")  # doctest: +SKIP
        >>> probs = probabilities_from_model(clf, data.load("mnist", "test"))  # doctest: +SKIP
    """
    check_compatible(classifier, dataset)
    x, _ = dataset.tensors()
    logits = classifier.predict_logits(x, batch_size=batch_size)
    return logits.double().softmax(1).float().cpu()


def check_inputs(probabilities: torch.Tensor | np.ndarray,
                 labels: torch.Tensor | np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
    """Validate probabilities ``(N, K)`` and labels ``(N,)``; return them as float64 / int64."""
    probs = torch.as_tensor(probabilities).detach().cpu()
    given = torch.as_tensor(labels).detach().cpu()
    if probs.ndim != 2 or probs.shape[1] < 2 or probs.shape[0] < 1:
        raise BrittleError(f"probabilities must be (N, K) with N >= 1 and K >= 2, "
                           f"got shape {tuple(probs.shape)}")
    if not probs.is_floating_point():
        raise BrittleError(f"probabilities must be floating point, got {probs.dtype}")
    probs = probs.to(torch.float64)
    if not torch.isfinite(probs).all():
        raise BrittleError("probabilities contain NaN or infinite values")
    if probs.min() < -cl.TOLERANCE or probs.max() > 1 + cl.TOLERANCE:
        raise BrittleError(f"probabilities must lie in [0, 1], got values in "
                           f"[{probs.min():.4g}, {probs.max():.4g}] (logits? apply softmax first)")
    worst = (probs.sum(1) - 1).abs().max()
    if worst > ROW_SUM_TOLERANCE:
        raise BrittleError(f"probability rows must sum to 1, one is off by {worst:.3g} "
                           f"(logits or scores? apply softmax first)")
    if given.ndim != 1 or len(given) != len(probs):
        raise BrittleError(f"{len(probs)} rows of probabilities but labels of shape "
                           f"{tuple(given.shape)}")
    if given.is_floating_point() or given.dtype == torch.bool:
        raise BrittleError(f"labels must be integers, got {given.dtype}")
    given = given.to(torch.int64)
    if given.min() < 0 or given.max() >= probs.shape[1]:
        raise BrittleError(f"labels must lie in [0, {probs.shape[1] - 1}], got "
                           f"[{int(given.min())}, {int(given.max())}]")
    return probs.clamp(0, 1), given


def _check_options(method: str, rank_by: str, min_per_class: int) -> None:
    if method not in METHODS:
        raise BrittleError(f"unknown method {method!r}; use one of {', '.join(METHODS)}")
    if rank_by not in RANK_BY:
        raise BrittleError(f"unknown rank_by {rank_by!r}; use one of {', '.join(RANK_BY)}")
    if min_per_class < 0:
        raise BrittleError(f"min_per_class must be >= 0, got {min_per_class}")


def _flag(method: str, probs: torch.Tensor, given: torch.Tensor, thresholds: torch.Tensor,
          calibrated: torch.Tensor, min_per_class: int) -> torch.Tensor:
    if method == "confident_learning":
        return cl.off_diagonal(probs, given, thresholds)
    by_rate = method in ("prune_by_noise_rate", "both")
    by_class = method in ("prune_by_class", "both")
    flagged = torch.ones(len(given), dtype=torch.bool)
    if by_rate:
        flagged &= cl.prune_by_noise_rate(probs, given, calibrated, min_per_class=min_per_class)
    if by_class:
        flagged &= cl.prune_by_class(probs, given, calibrated, min_per_class=min_per_class)
    return flagged


def _ranked(candidates: torch.Tensor, probs: torch.Tensor, given: torch.Tensor,
            rank_by: RankBy) -> torch.Tensor:
    """``candidates`` ordered by ascending label quality (ties by index)."""
    scores = label_quality(probs[candidates], given[candidates], rank_by)
    return candidates[torch.argsort(scores, stable=True)]
