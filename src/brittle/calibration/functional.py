"""Calibration metrics of a classifier's logits: ECE (equal-width, equal-mass, classwise), RMS
calibration error, MCE, Brier score and NLL.

Conventions (the same in :class:`~brittle.calibration.metrics.CalibrationMetrics` and the
reliability diagram):

- Everything consumes **logits** ``(N, K)``; probabilities are ``softmax`` computed here in
  float64 on the CPU, so large logits never overflow and sums do not drift.
- Top-label: the confidence of a sample is its largest probability, it is correct when the
  argmax of the probabilities equals its label.
- Equal-width bins are right-closed, as in Guo et al. (2017): bin ``b`` of ``B`` holds the values
  ``v`` with ``b/B < v <= (b+1)/B`` (edges are exactly ``b/B`` in float64); a value of exactly 0
  (possible only for the classwise probabilities) goes to bin 0.
- Equal-mass bins (Nixon et al. 2019): a sample whose confidence has ``L`` samples strictly below
  it goes to bin ``floor(L * B / N)``. Without ties the bins then hold ``floor(N/B)`` or
  ``ceil(N/B)`` samples each, the larger ones spread evenly; tied confidences always share a bin
  (so the result does not depend on the order of the samples), which can leave bins empty.
- Empty bins contribute nothing; weights are ``|B_b| / N``.
"""

from __future__ import annotations

import math
from typing import Any, Literal

import torch
import torch.nn.functional as F

from brittle.errors import BrittleError

Binning = Literal["equal-width", "equal-mass"]
BINNINGS: tuple[Binning, ...] = ("equal-width", "equal-mass")
Norm = Literal["l1", "l2", "max"]
METRIC_KEYS = ("ece", "ece_equal_mass", "classwise_ece", "rms", "mce", "brier", "nll",
               "accuracy")


def check_inputs(logits: Any, labels: Any) -> tuple[torch.Tensor, torch.Tensor]:
    """Validate logits ``(N, K)`` and labels ``(N,)``; return float64 and int64 CPU copies.

    Raises:
        BrittleError: One line naming the first problem (shape, dtype, NaN/inf, label range,
            empty input).

    Example:
        >>> z, y = check_inputs(torch.zeros(2, 3), torch.tensor([0, 2]))
        >>> z.dtype, y.dtype
        (torch.float64, torch.int64)
    """
    logits = torch.as_tensor(logits).detach()
    labels = torch.as_tensor(labels).detach()
    if logits.ndim != 2:
        raise BrittleError(f"logits must have shape (N, K), got {tuple(logits.shape)}")
    if not logits.is_floating_point():
        raise BrittleError(f"logits must be a float tensor, got {logits.dtype}")
    n, k = logits.shape
    if n == 0:
        raise BrittleError("calibration needs at least one sample, got empty logits")
    if k < 2:
        raise BrittleError(f"logits need at least 2 classes, got {k}")
    if labels.shape != (n,):
        raise BrittleError(f"labels must have shape ({n},) to match the logits, "
                           f"got {tuple(labels.shape)}")
    if labels.is_floating_point() or labels.is_complex() or labels.dtype == torch.bool:
        raise BrittleError(f"labels must be an integer tensor, got {labels.dtype}")
    logits = logits.to("cpu", torch.float64)
    labels = labels.to("cpu", torch.int64)
    if not torch.isfinite(logits).all():
        raise BrittleError("logits contain NaN or infinite values")
    if labels.min() < 0 or labels.max() >= k:
        raise BrittleError(f"labels must lie in [0, {k - 1}], got values in "
                           f"[{int(labels.min())}, {int(labels.max())}]")
    return logits, labels


def check_bins(bins: Any) -> int:
    """``bins`` as an int, or a one-line :class:`BrittleError` unless it is an integer >= 1."""
    if isinstance(bins, bool) or not isinstance(bins, int) or bins < 1:
        raise BrittleError(f"bins must be an integer >= 1, got {bins!r}")
    return bins


def check_binning(binning: Any) -> Binning:
    """``binning`` if it is one of :data:`BINNINGS`, else a one-line :class:`BrittleError`."""
    if binning not in BINNINGS:
        raise BrittleError(f"binning must be one of {', '.join(BINNINGS)}; got {binning!r}")
    return binning


def bin_edges(bins: int) -> torch.Tensor:
    """The ``bins + 1`` equal-width edges ``b / bins`` in float64, exactly 0 and 1 at the ends."""
    return torch.arange(bins + 1, dtype=torch.float64) / bins


def equal_width_bins(values: torch.Tensor, bins: int) -> torch.Tensor:
    """Right-closed equal-width bin of each value in [0, 1]: ``b`` with ``b/B < v <= (b+1)/B``.

    Example:
        >>> equal_width_bins(torch.tensor([0.0, 0.25, 0.2500001, 1.0], dtype=torch.float64), 4)
        tensor([0, 0, 1, 3])
    """
    return (torch.bucketize(values, bin_edges(bins), right=False) - 1).clamp_(0, bins - 1)


def equal_mass_bins(values: torch.Tensor, bins: int) -> torch.Tensor:
    """Equal-mass bin of each value ``(N,)``: ``floor(L * bins / N)`` with ``L`` the number of
    values strictly below it, so ties share a bin.

    Example:
        >>> equal_mass_bins(torch.tensor([0.9, 0.1, 0.5, 0.5, 0.7]), 2)
        tensor([1, 0, 0, 0, 1])
    """
    below = torch.searchsorted(values.sort().values, values, right=False)
    return below * bins // max(values.numel(), 1)


def binned_sums(index: torch.Tensor, values: torch.Tensor, hits: torch.Tensor,
                num_bins: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Per-bin count, sum of ``values`` and sum of ``hits`` (each ``(num_bins,)`` float64)."""
    counts = torch.zeros(num_bins, dtype=torch.float64)
    value_sums = torch.zeros(num_bins, dtype=torch.float64)
    hit_sums = torch.zeros(num_bins, dtype=torch.float64)
    counts.index_add_(0, index, torch.ones_like(values, dtype=torch.float64))
    value_sums.index_add_(0, index, values.to(torch.float64))
    hit_sums.index_add_(0, index, hits.to(torch.float64))
    return counts, value_sums, hit_sums


def calibration_error(counts: torch.Tensor, value_sums: torch.Tensor, hit_sums: torch.Tensor,
                      *, norm: Norm = "l1") -> float:
    """Binned calibration error from per-bin sums (empty bins ignored).

    ``l1``: ``sum_b w_b |acc_b - conf_b|``; ``l2``: ``sqrt(sum_b w_b (acc_b - conf_b)^2)``;
    ``max``: ``max_b |acc_b - conf_b|`` over non-empty bins; ``w_b = |B_b| / N``.

    Example:
        >>> c, v, h = (torch.tensor(t, dtype=torch.float64) for t in ([2, 0], [1.2, 0], [2, 0]))
        >>> round(calibration_error(c, v, h), 6)
        0.4
    """
    full = counts > 0
    counts, gaps = counts[full], (hit_sums[full] - value_sums[full]).abs() / counts[full]
    weights = counts / counts.sum()
    if norm == "l1":
        return float((weights * gaps).sum())
    if norm == "l2":
        return math.sqrt(float((weights * gaps.square()).sum()))
    return float(gaps.max())


def probabilities(logits: torch.Tensor) -> torch.Tensor:
    """``softmax`` of validated float64 logits ``(N, K)``."""
    return torch.softmax(logits, dim=1)


def top_label(probs: torch.Tensor, labels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Confidence ``(N,)`` (largest probability) and correctness ``(N,)`` as float64 0/1."""
    confidence, prediction = probs.max(dim=1)
    return confidence, (prediction == labels).to(torch.float64)


def classwise_sums(probs: torch.Tensor, labels: torch.Tensor,
                   bins: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Per-class, per-bin count, probability sum and label-hit sum, each ``(K, bins)``."""
    k = probs.shape[1]
    index = equal_width_bins(probs, bins) + bins * torch.arange(k)
    hits = F.one_hot(labels, k)
    sums = binned_sums(index.reshape(-1), probs.reshape(-1), hits.reshape(-1), k * bins)
    return tuple(s.reshape(k, bins) for s in sums)  # type: ignore[return-value]


def classwise_error(counts: torch.Tensor, value_sums: torch.Tensor,
                    hit_sums: torch.Tensor) -> float:
    """Mean over classes of the equal-width ECE of ``p_k`` against ``1[y = k]`` from
    :func:`classwise_sums` (every class sees all ``N`` samples)."""
    per_class = (hit_sums - value_sums).abs().sum(dim=1) / counts.sum(dim=1)
    return float(per_class.mean())


def brier_terms(probs: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Per-sample multiclass Brier score ``sum_k (p_k - 1[y = k])^2`` ``(N,)``, in [0, 2]."""
    return (probs - F.one_hot(labels, probs.shape[1])).square().sum(dim=1)


def nll_terms(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Per-sample cross-entropy ``-log softmax(z)_y`` ``(N,)`` via ``log_softmax``."""
    return -torch.log_softmax(logits, dim=1).gather(1, labels[:, None]).squeeze(1)


def _top_label_error(logits: Any, labels: Any, bins: Any, binning: Any, norm: Norm) -> float:
    z, y = check_inputs(logits, labels)
    bins, binning = check_bins(bins), check_binning(binning)
    confidence, correct = top_label(probabilities(z), y)
    assign = equal_width_bins if binning == "equal-width" else equal_mass_bins
    return calibration_error(*binned_sums(assign(confidence, bins), confidence, correct, bins),
                             norm=norm)


def ece(logits: torch.Tensor, labels: torch.Tensor, *, bins: int = 15,
        binning: Binning = "equal-width") -> float:
    """Top-label expected calibration error (Naeini et al. 2015; Guo et al. 2017).

    ``ECE = sum_b |B_b| / N * |acc_b - conf_b|`` with the confidence the largest softmax
    probability; bins as in the module docstring.

    Args:
        logits: Logits ``(N, K)``, any float dtype and device.
        labels: True classes ``(N,)`` int64.
        bins: Number of bins.
        binning: ``equal-width`` (right-closed bins of (0, 1]) or ``equal-mass``.

    Returns:
        The ECE in [0, 1].

    Example:
        >>> round(ece(torch.tensor([[2.0, 0.0], [0.0, 1.0]]), torch.tensor([0, 0])), 4)
        0.4251
    """
    return _top_label_error(logits, labels, bins, binning, "l1")


def rms_calibration_error(logits: torch.Tensor, labels: torch.Tensor, *, bins: int = 15,
                          binning: Binning = "equal-width") -> float:
    """Root-mean-square calibration error ``sqrt(sum_b |B_b| / N * (acc_b - conf_b)^2)``.

    Args and bins as in :func:`ece`.

    Example:
        >>> round(rms_calibration_error(torch.tensor([[2.0, 0.0]]), torch.tensor([1])), 4)
        0.8808
    """
    return _top_label_error(logits, labels, bins, binning, "l2")


def mce(logits: torch.Tensor, labels: torch.Tensor, *, bins: int = 15,
        binning: Binning = "equal-width") -> float:
    """Maximum calibration error ``max_b |acc_b - conf_b|`` over non-empty bins (Naeini 2015).

    Args and bins as in :func:`ece`.

    Example:
        >>> round(mce(torch.tensor([[2.0, 0.0], [0.0, 0.5]]), torch.tensor([0, 0])), 4)
        0.6225
    """
    return _top_label_error(logits, labels, bins, binning, "max")


def classwise_ece(logits: torch.Tensor, labels: torch.Tensor, *, bins: int = 15) -> float:
    """Classwise ECE (Kull et al. 2019): the mean over classes ``k`` of the equal-width ECE of
    ``p_k`` against ``1[y = k]``, every class binning all ``N`` samples.

    Example:
        >>> round(classwise_ece(torch.tensor([[0.0, 0.0]]), torch.tensor([0])), 4)
        0.5
    """
    z, y = check_inputs(logits, labels)
    return classwise_error(*classwise_sums(probabilities(z), y, check_bins(bins)))


def brier_score(logits: torch.Tensor, labels: torch.Tensor) -> float:
    """Multiclass Brier score: the mean over samples of ``sum_k (p_k - onehot_k)^2`` (in [0, 2];
    not divided by ``K``).

    Example:
        >>> brier_score(torch.tensor([[0.0, 0.0]]), torch.tensor([0]))
        0.5
    """
    z, y = check_inputs(logits, labels)
    return float(brier_terms(probabilities(z), y).mean())


def nll(logits: torch.Tensor, labels: torch.Tensor) -> float:
    """Mean negative log-likelihood (cross-entropy) of the labels, computed with log_softmax.

    Example:
        >>> round(nll(torch.tensor([[0.0, 0.0]]), torch.tensor([1])), 4)
        0.6931
    """
    z, y = check_inputs(logits, labels)
    return float(nll_terms(z, y).mean())


def calibration_metrics(logits: torch.Tensor, labels: torch.Tensor, *,
                        bins: int = 15) -> dict[str, float]:
    """All calibration metrics at once, keyed as :data:`METRIC_KEYS`.

    ``ece`` (equal-width), ``ece_equal_mass``, ``classwise_ece``, ``rms`` and ``mce``
    (equal-width) use ``bins`` bins; ``brier``, ``nll`` and ``accuracy`` (top-1) are bin-free.

    Example:
        >>> m = calibration_metrics(torch.tensor([[3.0, 0.0], [0.0, 1.0]]), torch.tensor([0, 1]))
        >>> sorted(m) == sorted(METRIC_KEYS), m["accuracy"]
        (True, 1.0)
    """
    z, y = check_inputs(logits, labels)
    bins = check_bins(bins)
    probs = probabilities(z)
    confidence, correct = top_label(probs, y)
    width = binned_sums(equal_width_bins(confidence, bins), confidence, correct, bins)
    mass = binned_sums(equal_mass_bins(confidence, bins), confidence, correct, bins)
    return {
        "ece": calibration_error(*width, norm="l1"),
        "ece_equal_mass": calibration_error(*mass, norm="l1"),
        "classwise_ece": classwise_error(*classwise_sums(probs, y, bins)),
        "rms": calibration_error(*width, norm="l2"),
        "mce": calibration_error(*width, norm="max"),
        "brier": float(brier_terms(probs, y).mean()),
        "nll": float(nll_terms(z, y).mean()),
        "accuracy": float(correct.mean()),
    }
