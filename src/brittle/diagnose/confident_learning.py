"""Confident learning: estimate which given labels disagree with out-of-sample predictions.

Northcutt, Jiang & Chuang, "Confident Learning: Estimating Uncertainty in Dataset Labels",
JAIR 70, 2021 (https://jair.org/index.php/jair/article/view/12125).

Pure functions over probabilities ``(N, K)`` (out-of-sample: each row predicted by a model that
never trained on that sample) and given labels ``(N,)``. Matrices are indexed
``[given label, estimated true label]``. The steps:

1. :func:`confident_thresholds` ``t_j``: the mean probability of class ``j`` over the samples
   labelled ``j`` (the model's typical self-confidence for that class).
2. :func:`confident_joint` ``C[i][j]``: samples labelled ``i`` confidently in class ``j``
   (``p_j >= t_j``; when several classes pass, the most probable of them).
3. :func:`calibrate_joint`: rescale ``C`` so that each row sums to the count of label ``i``,
   giving integer estimates of how many samples labelled ``i`` truly belong to ``j``.
4. Pruning (:func:`prune_by_noise_rate`, :func:`prune_by_class`): flag that many samples, the
   ones the model argues against most.
"""

from __future__ import annotations

import torch

# Probabilities within this of a threshold count as reaching it (float noise in softmax outputs).
TOLERANCE = 1e-6
# A class that no sample carries gets an unreachable threshold: nothing is counted into it.
UNREACHABLE = 2.0


def confident_thresholds(probabilities: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Per-class thresholds ``t_j = mean(p_j | given label j)`` (paper eq. 2).

    Args:
        probabilities: ``(N, K)`` rows on the simplex.
        labels: ``(N,)`` given labels in ``[0, K)``.

    Returns:
        ``(K,)`` thresholds; :data:`UNREACHABLE` for a class without any labelled sample.

    Example:
        >>> p = torch.tensor([[0.9, 0.1], [0.7, 0.3], [0.2, 0.8]], dtype=torch.float64)
        >>> [round(t, 6) for t in confident_thresholds(p, torch.tensor([0, 0, 1])).tolist()]
        [0.8, 0.8]
    """
    k = probabilities.shape[1]
    counts = torch.bincount(labels, minlength=k).to(probabilities.dtype)
    sums = torch.zeros(k, dtype=probabilities.dtype).index_add_(
        0, labels, probabilities.gather(1, labels[:, None]).squeeze(1))
    thresholds = torch.full((k,), UNREACHABLE, dtype=probabilities.dtype)
    present = counts > 0
    thresholds[present] = sums[present] / counts[present]
    # a zero threshold would let every sample be confident in that class
    return thresholds.clamp_min(2 * TOLERANCE)


def confident_classes(probabilities: torch.Tensor, thresholds: torch.Tensor) -> torch.Tensor:
    """The class each sample is confidently in, or ``-1`` when no class reaches its threshold.

    Among several classes at or above their thresholds the most probable one wins (paper
    eq. 1, the argmax over the confident set).

    Returns:
        ``(N,)`` int64 in ``[-1, K)``.
    """
    confident = probabilities >= thresholds - TOLERANCE
    masked = torch.where(confident, probabilities, torch.full_like(probabilities, -1.0))
    guess = masked.argmax(1)
    return torch.where(confident.any(1), guess, torch.full_like(guess, -1))


def confident_joint(probabilities: torch.Tensor, labels: torch.Tensor, *,
                    thresholds: torch.Tensor | None = None) -> torch.Tensor:
    """The confident joint ``C[i][j]``: samples labelled ``i`` confidently in class ``j``.

    Samples confident in no class are not counted, so ``C`` sums to at most ``N``.

    Returns:
        ``(K, K)`` int64 counts, rows = given label, columns = confident class.

    Example:
        >>> p = torch.tensor([[0.9, 0.1], [0.8, 0.2], [0.1, 0.9], [0.95, 0.05]])
        >>> confident_joint(p, torch.tensor([0, 0, 1, 1])).tolist()
        [[1, 0], [1, 1]]
    """
    k = probabilities.shape[1]
    if thresholds is None:
        thresholds = confident_thresholds(probabilities, labels)
    guess = confident_classes(probabilities, thresholds)
    counted = guess >= 0
    flat = labels[counted] * k + guess[counted]
    return torch.bincount(flat, minlength=k * k).reshape(k, k)


def calibrate_joint(joint: torch.Tensor, label_counts: torch.Tensor) -> torch.Tensor:
    """Rescale confident counts so that row ``i`` sums to the number of samples labelled ``i``.

    Every class keeps at least one count on its diagonal before rescaling, so a row without any
    confident sample is read as "all correct" rather than dividing by zero. Rounding keeps the
    row totals exact (largest remainders round up).

    Args:
        joint: ``(K, K)`` confident counts (:func:`confident_joint`).
        label_counts: ``(K,)`` number of samples per given label.

    Returns:
        ``(K, K)`` int64 with ``out.sum(1) == label_counts``.

    Example:
        >>> calibrate_joint(torch.tensor([[3, 1], [0, 2]]), torch.tensor([8, 4])).tolist()
        [[6, 2], [0, 4]]
    """
    counts = joint.to(torch.float64).clone()
    counts.diagonal().clamp_(min=1.0)
    rows = counts / counts.sum(1, keepdim=True) * label_counts.to(torch.float64)[:, None]
    return round_rows(rows)


def round_rows(values: torch.Tensor) -> torch.Tensor:
    """Round each row of non-negative ``values`` to integers that keep the row's rounded sum.

    The largest-remainder method: floor everything, then give the missing units to the entries
    that lost the most; among equal remainders the later column wins (cleanlab's convention,
    so that both give the same counts).

    Example:
        >>> round_rows(torch.tensor([[0.5, 0.5, 2.0], [1.4, 1.3, 0.3]])).tolist()
        [[0, 1, 2], [2, 1, 0]]
    """
    floors = values.floor()
    missing = (values.sum(1).round() - floors.sum(1)).to(torch.int64)
    # sort the columns reversed so that a stable sort puts later columns first among ties
    reversed_order = torch.argsort((values - floors).flip(1), dim=1, descending=True, stable=True)
    order = values.shape[1] - 1 - reversed_order
    ranks = torch.empty_like(order).scatter_(
        1, order, torch.arange(values.shape[1]).expand_as(order).contiguous())
    return (floors + (ranks < missing[:, None]).to(values.dtype)).to(torch.int64)


def keep_per_class(calibrated: torch.Tensor, minimum: int) -> torch.Tensor:
    """Lower the estimated noise counts so that at least ``minimum`` samples per given label
    stay unflagged (off-diagonal entries of a short row are scaled down and floored)."""
    out = calibrated.clone()
    totals = out.sum(1)
    for i in range(out.shape[0]):
        allowed = max(int(totals[i]) - minimum, 0)
        off = totals[i] - out[i, i]
        if off > allowed:
            row = out[i].to(torch.float64) * allowed / float(off)
            row[i] = 0
            out[i] = row.floor().to(torch.int64)
            out[i, i] = totals[i] - out[i].sum()
    return out


def prune_by_noise_rate(probabilities: torch.Tensor, labels: torch.Tensor,
                        counts: torch.Tensor, *, min_per_class: int = 1) -> torch.Tensor:
    """Flag, for each off-diagonal ``(i, j)``, the ``counts[i][j]`` samples labelled ``i`` with
    the largest margin ``p_j - p_i`` (paper section 3.2, "prune by noise rate").

    Args:
        probabilities: ``(N, K)``.
        labels: ``(N,)``.
        counts: ``(K, K)`` calibrated joint counts (:func:`calibrate_joint`).
        min_per_class: Given labels with this many samples or fewer are never pruned.

    Returns:
        ``(N,)`` bool mask of flagged samples.
    """
    counts = keep_per_class(counts, min_per_class)
    flagged = torch.zeros(len(labels), dtype=torch.bool)
    for i in range(counts.shape[0]):
        members = torch.nonzero(labels == i).flatten()
        if len(members) <= min_per_class:
            continue
        rows = probabilities[members]
        for j in torch.nonzero(counts[i] > 0).flatten().tolist():
            if j == i:
                continue
            flagged[members[largest(rows[:, j] - rows[:, i], int(counts[i, j]))]] = True
    return flagged


def prune_by_class(probabilities: torch.Tensor, labels: torch.Tensor,
                   counts: torch.Tensor, *, min_per_class: int = 1) -> torch.Tensor:
    """Flag, for each given label ``i``, the ``sum_{j != i} counts[i][j]`` samples labelled ``i``
    with the lowest ``p_i`` (paper section 3.2, "prune by class").

    Returns:
        ``(N,)`` bool mask of flagged samples.
    """
    counts = keep_per_class(counts, min_per_class)
    flagged = torch.zeros(len(labels), dtype=torch.bool)
    for i in range(counts.shape[0]):
        members = torch.nonzero(labels == i).flatten()
        if len(members) <= min_per_class:
            continue
        number = int(counts[i].sum() - counts[i, i])
        flagged[members[largest(-probabilities[members, i], number)]] = True
    return flagged


def largest(values: torch.Tensor, count: int) -> torch.Tensor:
    """Positions of the ``count`` largest ``values``, ties going to the earlier position (the
    same choice as a stable descending sort, without sorting everything).

    Example:
        >>> largest(torch.tensor([0.1, 0.5, 0.3, 0.5]), 2).tolist()
        [1, 3]
    """
    count = min(count, len(values))
    if count <= 0:
        return torch.empty(0, dtype=torch.int64)
    cut = values.topk(count).values[-1]
    above = torch.nonzero(values > cut).flatten()
    tied = torch.nonzero(values == cut).flatten()[:count - len(above)]
    return torch.cat([above, tied])


def off_diagonal(probabilities: torch.Tensor, labels: torch.Tensor,
                 thresholds: torch.Tensor) -> torch.Tensor:
    """Flag the samples counted off the diagonal of the confident joint (``C_confusion`` in the
    paper: confidently in a class other than their given label)."""
    guess = confident_classes(probabilities, thresholds)
    return (guess >= 0) & (guess != labels)


def given_is_top(probabilities: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Samples whose given label is (within :data:`TOLERANCE`) the model's top class; a label
    the model agrees with is never a suspect."""
    boosted = probabilities.clone()
    boosted[torch.arange(len(labels)), labels] += TOLERANCE
    return boosted.argmax(1) == labels
