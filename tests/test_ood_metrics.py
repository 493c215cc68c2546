"""OOD metrics against scikit-learn and a slow reference; conventions and bad input."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.metrics import average_precision_score, roc_auc_score, roc_curve

from brittle.errors import BrittleError
from brittle.ood import aupr_in, aupr_out, auroc, fpr_at_tpr, ood_metrics, score_histograms

FLOATS = st.floats(-1e3, 1e3, allow_nan=False, width=32)
TIED = st.integers(0, 4).map(float)  # few distinct values: many ties, within and across sets


def score_lists(elements: st.SearchStrategy[float]) -> st.SearchStrategy[list[float]]:
    return st.lists(elements, min_size=1, max_size=60)


def labelled(s_in: list[float], s_out: list[float]) -> tuple[np.ndarray, np.ndarray]:
    """scikit-learn's view: OOD labelled 1, scores as they are."""
    return (np.r_[np.zeros(len(s_in)), np.ones(len(s_out))],
            np.r_[np.asarray(s_in, dtype=np.float64), np.asarray(s_out, dtype=np.float64)])


def slow_fpr(s_in: list[float], s_out: list[float], tpr: float) -> float:
    """Walk the thresholds from the top; the first that detects ``tpr`` of OOD decides."""
    for t in sorted(set(s_in) | set(s_out), reverse=True):
        if sum(s >= t for s in s_out) / len(s_out) >= tpr:
            return sum(s >= t for s in s_in) / len(s_in)
    raise AssertionError("unreachable: the lowest threshold detects everything")


@settings(max_examples=150, deadline=None)
@given(st.one_of(st.tuples(score_lists(FLOATS), score_lists(FLOATS)),
                 st.tuples(score_lists(TIED), score_lists(TIED))))
def test_auroc_and_aupr_equal_sklearn(sets: tuple[list[float], list[float]]) -> None:
    s_in, s_out = sets
    y, s = labelled(s_in, s_out)
    assert auroc(s_in, s_out) == pytest.approx(roc_auc_score(y, s), abs=1e-12)
    assert aupr_out(s_in, s_out) == pytest.approx(average_precision_score(y, s), abs=1e-12)
    assert aupr_in(s_in, s_out) == pytest.approx(average_precision_score(1 - y, -s), abs=1e-12)


@settings(max_examples=150, deadline=None)
@given(st.one_of(st.tuples(score_lists(FLOATS), score_lists(FLOATS)),
                 st.tuples(score_lists(TIED), score_lists(TIED))),
       st.sampled_from([0.5, 0.8, 0.95, 1.0]))
def test_fpr_at_tpr_equals_slow_reference_and_exact_roc(sets: tuple[list[float], list[float]],
                                                        tpr: float) -> None:
    s_in, s_out = sets
    assert fpr_at_tpr(s_in, s_out, tpr) == slow_fpr(s_in, s_out, tpr)
    # ID as positive: the same walk on the negated scores with the roles swapped
    neg_in, neg_out = [-s for s in s_in], [-s for s in s_out]
    assert fpr_at_tpr(s_in, s_out, tpr, positive="id") == slow_fpr(neg_out, neg_in, tpr)
    y, s = labelled(s_in, s_out)
    fprs, tprs, _ = roc_curve(y, s, drop_intermediate=False)
    assert fpr_at_tpr(s_in, s_out, tpr) == pytest.approx(fprs[np.argmax(tprs >= tpr)])


def test_the_two_fpr_conventions_differ() -> None:
    s_in = [0.0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9]
    s_out = [0.05, 0.85, 0.95, 1.0]
    # OOD positive: to catch all 4 OOD (threshold 0.05) 9 of 10 ID are flagged
    assert fpr_at_tpr(s_in, s_out, 1.0) == 0.9
    # ID positive: to keep all 10 ID (score <= 0.9), 2 of 4 OOD are accepted
    assert fpr_at_tpr(s_in, s_out, 1.0, positive="id") == 0.5


def test_conventions_on_separable_and_reversed_scores() -> None:
    s_in, s_out = torch.zeros(50), torch.ones(30)
    assert ood_metrics(s_in, s_out) == {"auroc": 1.0, "aupr_in": 1.0, "aupr_out": 1.0,
                                        "fpr95": 0.0}
    flipped = ood_metrics(s_out, s_in)
    assert flipped["auroc"] == 0.0 and flipped["fpr95"] == 1.0
    tied = ood_metrics(torch.zeros(50), torch.zeros(30))
    assert tied["auroc"] == 0.5 and tied["aupr_out"] == pytest.approx(30 / 80)


def test_metrics_accept_numpy_and_tensors_alike() -> None:
    rng = np.random.default_rng(0)
    s_in, s_out = rng.normal(size=200), rng.normal(1.0, size=100)
    assert ood_metrics(s_in, s_out) == ood_metrics(torch.from_numpy(s_in), torch.from_numpy(s_out))


@pytest.mark.parametrize(("s_in", "s_out", "match"), [
    ([], [1.0], "scores_in is empty"),
    ([[1.0, 2.0]], [1.0], "one score per sample"),
    ([1.0, float("nan")], [1.0], "non-finite"),
    ([1.0], [float("inf")], "non-finite"),
])
def test_bad_scores_are_refused(s_in: list, s_out: list, match: str) -> None:
    with pytest.raises(BrittleError, match=match):
        ood_metrics(s_in, s_out)


def test_bad_fpr_arguments_are_refused() -> None:
    with pytest.raises(BrittleError, match="tpr"):
        fpr_at_tpr([0.0], [1.0], 0.0)
    with pytest.raises(BrittleError, match="positive"):
        fpr_at_tpr([0.0], [1.0], positive="in")  # type: ignore[arg-type]


def test_score_histograms_share_edges_and_count_every_score() -> None:
    rng = np.random.default_rng(1)
    s_in, s_out = rng.normal(size=500), np.r_[rng.normal(3.0, size=199), 1e6]
    h = score_histograms(s_in, s_out, bins=20)
    assert len(h["edges"]) == 21 and sum(h["in"]) == 500 and sum(h["out"]) == 200
    assert h["edges"][-1] < 10  # one extreme score does not stretch the range
    assert h["out"][-1] >= 1 and h["in"][0] >= 1
