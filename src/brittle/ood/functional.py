"""Pure functions of OOD detection: the metrics and the feature helpers the detectors share.

Conventions (the same everywhere in brittle and written into every result):

- A detector's score is **higher = more OOD**.
- **OOD is the positive class** of AUROC, AUPR-Out and FPR@95.
- AUPR-In swaps the roles: in-distribution (ID) is the positive class and the scores are
  negated, so that higher means "more in-distribution".

Ties are handled exactly like scikit-learn: AUROC counts a tied (ID, OOD) pair as one half
(the average-rank Mann-Whitney statistic, equal to ``sklearn.metrics.roc_auc_score``); AUPR is
the step-wise average precision of ``sklearn.metrics.average_precision_score``, where all
samples with the same score enter at one threshold together.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Literal

import numpy as np
import torch
from torch import nn

from brittle.errors import BrittleError

ScoresLike = torch.Tensor | np.ndarray | Sequence[float]


def auroc(scores_in: ScoresLike, scores_out: ScoresLike) -> float:
    """Area under the ROC curve with OOD as the positive class.

    The probability that a random OOD sample scores higher than a random ID sample, ties
    counting one half (average ranks), identical to ``roc_auc_score`` with OOD labelled 1.

    Args:
        scores_in: Scores ``(N_in,)`` of in-distribution samples.
        scores_out: Scores ``(N_out,)`` of OOD samples (higher = more OOD).

    Returns:
        AUROC in [0, 1]; 0.5 is chance, 1.0 perfect separation.

    Example:
        >>> auroc([0.1, 0.2, 0.3], [0.25, 0.9])
        0.8333333333333334
    """
    s_in, s_out = _pair(scores_in, scores_out)
    ranks = _average_ranks(torch.cat([s_in, s_out]))
    n_in, n_out = len(s_in), len(s_out)
    u = ranks[n_in:].sum() - n_out * (n_out + 1) / 2
    return float(u / (n_in * n_out))


def aupr_out(scores_in: ScoresLike, scores_out: ScoresLike) -> float:
    """Area under the precision-recall curve with OOD as the positive class.

    Step-wise average precision ``sum_n (R_n - R_{n-1}) P_n`` over the distinct score
    thresholds, identical to ``average_precision_score(is_ood, scores)``. Chance level is the
    OOD share ``N_out / (N_in + N_out)``.

    Example:
        >>> aupr_out([0.1, 0.2, 0.3], [0.25, 0.9])
        0.8333333333333333
    """
    s_in, s_out = _pair(scores_in, scores_out)
    return _average_precision(s_out, s_in)


def aupr_in(scores_in: ScoresLike, scores_out: ScoresLike) -> float:
    """Area under the precision-recall curve with in-distribution as the positive class.

    The scores are negated (higher = more in-distribution); identical to
    ``average_precision_score(is_id, -scores)``. Chance level is ``N_in / (N_in + N_out)``.

    Example:
        >>> aupr_in([0.1, 0.2, 0.3], [0.25, 0.9])
        0.9166666666666666
    """
    s_in, s_out = _pair(scores_in, scores_out)
    return _average_precision(-s_in, -s_out)


def fpr_at_tpr(scores_in: ScoresLike, scores_out: ScoresLike, tpr: float = 0.95, *,
               positive: Literal["ood", "id"] = "ood") -> float:
    """False positive rate at the highest threshold whose true positive rate reaches ``tpr``.

    With ``positive="ood"`` (the default, and the one :func:`ood_metrics` reports as
    ``fpr95``): take the largest threshold ``t`` such that at least ``tpr`` of the OOD samples
    score ``>= t`` (are detected); return the fraction of in-distribution samples that also
    score ``>= t`` (are wrongly flagged). This is OpenOOD's current definition
    (``roc_curve(is_ood, -conf)`` then the FPR at the first point with TPR >= 0.95) and the
    exact value of ``sklearn.metrics.roc_curve(..., drop_intermediate=False)`` at that point.

    With ``positive="id"`` the roles swap (the classic definition of Hendrycks & Gimpel 2017,
    Liang et al. 2018 and OpenOOD v1.0's ``fpr_recall``): keep ``tpr`` of the ID samples as
    in-distribution (score ``<= t``) and return the fraction of OOD samples also accepted
    (score ``<= t``). The two generally differ.

    Args:
        scores_in: Scores ``(N_in,)`` of in-distribution samples.
        scores_out: Scores ``(N_out,)`` of OOD samples.
        tpr: The true positive rate to reach, in (0, 1].
        positive: Which set is the positive class.

    Returns:
        The false positive rate in [0, 1]; lower is better.

    Example:
        >>> fpr_at_tpr([0.1, 0.2, 0.3, 0.5], [0.4, 0.6], tpr=0.5)
        0.0
        >>> fpr_at_tpr([0.1, 0.2, 0.3, 0.5], [0.4, 0.6], tpr=1.0)
        0.25
    """
    if not 0.0 < tpr <= 1.0:
        raise BrittleError(f"tpr must lie in (0, 1], got {tpr}")
    s_in, s_out = _pair(scores_in, scores_out)
    if positive == "id":
        s_in, s_out = -s_out, -s_in
    elif positive != "ood":
        raise BrittleError(f"positive must be 'ood' or 'id', got {positive!r}")
    n_out = len(s_out)
    # the TPR of the top-k positives, compared in floating point as roc_curve does
    rates = torch.arange(1, n_out + 1, dtype=torch.float64) / n_out
    k = int(torch.searchsorted(rates, torch.tensor([tpr], dtype=torch.float64))[0]) + 1
    threshold = s_out.sort(descending=True).values[min(k, n_out) - 1]
    return float((s_in >= threshold).double().mean())


def ood_metrics(scores_in: ScoresLike, scores_out: ScoresLike) -> dict[str, float]:
    """AUROC, AUPR-In, AUPR-Out and FPR@95 (OOD positive) of one detector on one OOD set.

    Args:
        scores_in: Scores ``(N_in,)`` of in-distribution samples (higher = more OOD).
        scores_out: Scores ``(N_out,)`` of OOD samples.

    Returns:
        ``{"auroc", "aupr_in", "aupr_out", "fpr95"}``, each a fraction in [0, 1].

    Example:
        >>> ood_metrics([0.1, 0.2, 0.3], [0.25, 0.9])["auroc"]
        0.8333333333333334
    """
    s_in, s_out = _pair(scores_in, scores_out)
    return {"auroc": auroc(s_in, s_out), "aupr_in": aupr_in(s_in, s_out),
            "aupr_out": aupr_out(s_in, s_out), "fpr95": fpr_at_tpr(s_in, s_out, 0.95)}


def score_histograms(scores_in: ScoresLike, scores_out: ScoresLike, *, bins: int = 30,
                     ) -> dict[str, list[float] | list[int]]:
    """Counts of both score sets over shared bin edges, for plots of how far they overlap.

    The edges span the 0.5-99.5% quantiles of all scores together, so that a few extreme
    scores do not squash the rest; scores beyond them are counted in the first or last bin.

    Returns:
        ``{"edges": bins + 1 floats, "in": bins counts, "out": bins counts}``.

    Example:
        >>> h = score_histograms([0.0, 0.1, 0.2], [0.8, 0.9, 1.0], bins=2)
        >>> h["in"], h["out"]
        ([3, 0], [0, 3])
    """
    s_in, s_out = _pair(scores_in, scores_out)
    both = torch.cat([s_in, s_out])
    low, high = torch.quantile(both, torch.tensor([0.005, 0.995], dtype=torch.float64)).tolist()
    if not high > low:
        low, high = low - 0.5, high + 0.5
    edges = torch.linspace(low, high, bins + 1, dtype=torch.float64)

    def counts(s: torch.Tensor) -> list[int]:
        idx = torch.bucketize(s, edges[1:-1], right=True)
        return torch.bincount(idx, minlength=bins).tolist()

    return {"edges": edges.tolist(), "in": counts(s_in), "out": counts(s_out)}


def flatten_activation(act: torch.Tensor) -> torch.Tensor:
    """One feature vector per sample: ``(N, C, H, W)`` maps are global-average-pooled to
    ``(N, C)``, anything else is flattened to ``(N, D)``.

    Example:
        >>> flatten_activation(torch.ones(2, 3, 4, 4)).shape
        torch.Size([2, 3])
    """
    if act.ndim == 4:
        return act.mean(dim=(2, 3))
    return act.reshape(len(act), -1)


def l2_normalize(x: torch.Tensor, eps: float = 1e-12) -> torch.Tensor:
    """Rows of ``x`` ``(N, D)`` scaled to unit Euclidean norm (zero rows stay zero)."""
    return x / x.norm(dim=1, keepdim=True).clamp_min(eps)


def knn_search(queries: torch.Tensor, bank: torch.Tensor, k: int, *,
               max_elements: int = 1 << 24) -> tuple[torch.Tensor, torch.Tensor]:
    """Euclidean distances and indices of the ``k`` nearest rows of ``bank`` for each query.

    Exact search with ``torch.cdist`` in chunks of queries, so that no more than about
    ``max_elements`` distances are held at once.

    Args:
        queries: ``(N, D)``.
        bank: ``(M, D)`` with ``M >= k``.
        k: Number of neighbours.
        max_elements: Memory bound of one chunk of the ``(chunk, M)`` distance matrix.

    Returns:
        Distances ``(N, k)`` in ascending order and indices ``(N, k)`` into ``bank``.

    Example:
        >>> d, i = knn_search(torch.tensor([[0.0], [2.9]]), torch.tensor([[0.0], [1.0], [3.0]]), 1)
        >>> i.flatten().tolist()
        [0, 2]
    """
    chunk = max(1, max_elements // max(1, len(bank)))
    dists, idx = [], []
    for start in range(0, len(queries), chunk):
        d = torch.cdist(queries[start:start + chunk], bank)
        top = d.topk(k, dim=1, largest=False, sorted=True)
        dists.append(top.values)
        idx.append(top.indices)
    if not dists:
        return queries.new_empty(0, k), torch.empty(0, k, dtype=torch.long)
    return torch.cat(dists), torch.cat(idx)


def class_means_and_tied_covariance(x: torch.Tensor, labels: torch.Tensor, num_classes: int,
                                    ) -> tuple[torch.Tensor, torch.Tensor]:
    """Class means ``(K, D)`` and the shared covariance ``(D, D)`` of class-centred ``x``.

    The covariance is ``1/N sum_i (x_i - mu_{y_i})(x_i - mu_{y_i})^T`` (maximum likelihood,
    as ``sklearn.covariance.EmpiricalCovariance``), computed in float64. A class without
    samples gets a NaN mean (the caller decides what to do with it).

    Example:
        >>> mu, cov = class_means_and_tied_covariance(torch.eye(2), torch.tensor([0, 1]), 2)
        >>> cov.abs().max().item()
        0.0
    """
    x = x.double()
    sums = torch.zeros(num_classes, x.shape[1], dtype=torch.float64).index_add_(0, labels, x)
    counts = torch.bincount(labels, minlength=num_classes).double()
    means = sums / counts[:, None]
    centred = x - means[labels]
    return means, centred.T @ centred / len(x)


def descend_input(model: nn.Module, x: torch.Tensor,
                  loss: Callable[[torch.Tensor], torch.Tensor], *, eps: float) -> torch.Tensor:
    """One signed-gradient step of size ``eps`` that lowers ``loss``: ``x - eps sign(grad_x)``.

    The input preprocessing of ODIN and Mahalanobis: it moves every sample towards what the
    model finds in-distribution. Gradients are taken with respect to ``x`` only (the model's
    parameters are frozen meanwhile); the step is not clipped to the pixel bounds, as in the
    papers. ``eps`` is in the pixel scale of ``x``.

    Args:
        model: Module whose parameters are frozen during the step.
        x: Inputs ``(N, ...)``.
        loss: Maps a batch to one scalar (sum the per-sample losses so that samples do not
            interact).
        eps: Step size.

    Returns:
        The stepped inputs ``(N, ...)``, detached.

    Example:
        >>> lin = nn.Linear(2, 1, bias=False)
        >>> _ = lin.weight.data.fill_(1.0)
        >>> descend_input(lin, torch.zeros(1, 2), lambda v: lin(v).sum(), eps=0.1)
        tensor([[-0.1000, -0.1000]])
    """
    flags = [(p, p.requires_grad) for p in model.parameters()]
    try:
        for p, _ in flags:
            p.requires_grad_(False)
        with torch.enable_grad():
            x = x.detach().requires_grad_(True)
            (grad,) = torch.autograd.grad(loss(x), x)
    finally:
        for p, flag in flags:
            p.requires_grad_(flag)
    return (x - eps * grad.sign()).detach()


def _pair(scores_in: ScoresLike, scores_out: ScoresLike) -> tuple[torch.Tensor, torch.Tensor]:
    return _scores(scores_in, "scores_in"), _scores(scores_out, "scores_out")


def _scores(values: ScoresLike, what: str) -> torch.Tensor:
    t = torch.as_tensor(np.asarray(values) if not isinstance(values, torch.Tensor) else values)
    t = t.detach().to("cpu", torch.float64)
    if t.ndim != 1:
        raise BrittleError(f"{what} must be one score per sample (N,), got shape {tuple(t.shape)}")
    if len(t) == 0:
        raise BrittleError(f"{what} is empty")
    if not torch.isfinite(t).all():
        raise BrittleError(f"{what} holds {int((~torch.isfinite(t)).sum())} non-finite scores")
    return t


def _average_ranks(values: torch.Tensor) -> torch.Tensor:
    """1-based ranks of ``values``, tied values sharing the average of their ranks."""
    order = values.argsort()
    _, inverse, counts = torch.unique_consecutive(values[order], return_inverse=True,
                                                  return_counts=True)
    ends = counts.cumsum(0).double()
    mean_rank = ends - (counts.double() - 1) / 2
    ranks = torch.empty_like(values)
    ranks[order] = mean_rank[inverse]
    return ranks


def _average_precision(positives: torch.Tensor, negatives: torch.Tensor) -> float:
    """Step-wise average precision of ``positives`` against ``negatives`` (higher = positive).
    """
    values = torch.cat([positives, negatives])
    is_pos = torch.cat([torch.ones(len(positives)), torch.zeros(len(negatives))]).double()
    order = values.argsort(descending=True)
    _, counts = torch.unique_consecutive(values[order], return_counts=True)
    ends = counts.cumsum(0) - 1  # last index of each group of equal scores
    tps = is_pos[order].cumsum(0)[ends]
    precision = tps / (ends + 1).double()
    recall_gain = torch.diff(tps, prepend=tps.new_zeros(1)) / len(positives)
    return float((recall_gain * precision).sum())
