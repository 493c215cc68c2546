"""Calibration metrics, reliability diagrams and temperature scaling.

Real logits come from the tiny LeNet of ``attack_fixtures`` on 2000 real MNIST test images;
random logits from hypothesis. Every metric is checked against a slow per-sample Python loop
written here, and the top-label errors against torchmetrics where the definitions coincide.
"""

from __future__ import annotations

import itertools
import json
import logging
import math
from pathlib import Path

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torchmetrics.functional.classification import multiclass_calibration_error

from attack_fixtures import make_classifier, mnist
from brittle import calibration as C
from brittle.calibration import functional as CF
from brittle.errors import BrittleError

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def real() -> tuple[torch.Tensor, torch.Tensor]:
    """Logits ``(2000, 10)`` of the trained tiny LeNet on real MNIST test images, and labels."""
    x, y = mnist("t10k", 2000)
    return make_classifier().predict_logits(x, batch_size=500), y


@st.composite
def logits_labels(draw: st.DrawFn, max_n: int = 40) -> tuple[torch.Tensor, torch.Tensor]:
    """Random logits ``(N, K)`` and labels: small integers (many ties and exact bin edges) or
    floats of any scale."""
    n, k = draw(st.integers(1, max_n)), draw(st.integers(2, 5))
    values = draw(st.sampled_from([st.integers(-3, 3).map(float),
                                   st.floats(-30, 30, allow_nan=False, width=32)]))
    flat = draw(st.lists(values, min_size=n * k, max_size=n * k))
    labels = draw(st.lists(st.integers(0, k - 1), min_size=n, max_size=n))
    return torch.tensor(flat).reshape(n, k), torch.tensor(labels)


# ---- slow references: one sample at a time, plain Python floats -------------------------------

def _ref_probs(logits: torch.Tensor) -> list[list[float]]:
    # the per-sample loop is about binning and aggregation; probabilities are float64 softmax
    return torch.softmax(logits.double(), dim=1).tolist()


def _ref_width_bin(value: float, bins: int) -> int:
    edges = [b / bins for b in range(bins + 1)]
    for b in range(bins):
        if edges[b] < value <= edges[b + 1]:
            return b
    return 0  # a value of exactly 0


def _ref_binned(values: list[float], hits: list[float], which: list[int],
                bins: int) -> dict[str, float]:
    n, gaps, weights = len(values), [], []
    for b in range(bins):
        members = [i for i in range(n) if which[i] == b]
        if members:
            acc = sum(hits[i] for i in members) / len(members)
            conf = sum(values[i] for i in members) / len(members)
            gaps.append(abs(acc - conf))
            weights.append(len(members) / n)
    return {"l1": sum(w * g for w, g in zip(weights, gaps, strict=True)),
            "l2": math.sqrt(sum(w * g * g for w, g in zip(weights, gaps, strict=True))),
            "max": max(gaps)}


def _ref_top(logits: torch.Tensor, labels: torch.Tensor, bins: int,
             binning: str) -> dict[str, float]:
    conf, hits = [], []
    for row, label in zip(_ref_probs(logits), labels.tolist(), strict=True):
        conf.append(max(row))
        hits.append(float(row.index(max(row)) == label))
    n = len(conf)
    if binning == "equal-width":
        which = [_ref_width_bin(c, bins) for c in conf]
    else:  # rank among the strictly smaller confidences, ties share a bin
        which = [sum(other < c for other in conf) * bins // n for c in conf]
    return _ref_binned(conf, hits, which, bins)


def _ref_classwise(logits: torch.Tensor, labels: torch.Tensor, bins: int) -> float:
    probs, k = _ref_probs(logits), logits.shape[1]
    per_class = []
    for cls in range(k):
        values = [row[cls] for row in probs]
        hits = [float(label == cls) for label in labels.tolist()]
        which = [_ref_width_bin(v, bins) for v in values]
        per_class.append(_ref_binned(values, hits, which, bins)["l1"])
    return sum(per_class) / k


def _ref_brier_nll(logits: torch.Tensor, labels: torch.Tensor) -> tuple[float, float]:
    brier, nll = [], []
    for row, label in zip(logits.double().tolist(), labels.tolist(), strict=True):
        top = max(row)
        log_z = top + math.log(math.fsum(math.exp(v - top) for v in row))
        brier.append(sum((math.exp(v - log_z) - (j == label)) ** 2 for j, v in enumerate(row)))
        nll.append(log_z - row[label])
    return sum(brier) / len(brier), sum(nll) / len(nll)


# ---- metrics against the references -----------------------------------------------------------

@settings(max_examples=80, deadline=None)
@given(data=logits_labels(), bins=st.integers(1, 20))
def test_metrics_match_the_python_loop(data: tuple[torch.Tensor, torch.Tensor],
                                       bins: int) -> None:
    logits, labels = data
    width, mass = _ref_top(logits, labels, bins, "equal-width"), _ref_top(logits, labels, bins,
                                                                          "equal-mass")
    assert C.ece(logits, labels, bins=bins) == pytest.approx(width["l1"], abs=1e-12)
    assert C.rms_calibration_error(logits, labels, bins=bins) == pytest.approx(width["l2"],
                                                                               abs=1e-12)
    assert C.mce(logits, labels, bins=bins) == pytest.approx(width["max"], abs=1e-12)
    for norm, fn in (("l1", C.ece), ("l2", C.rms_calibration_error), ("max", C.mce)):
        assert fn(logits, labels, bins=bins, binning="equal-mass") == pytest.approx(
            mass[norm], abs=1e-12)
    reference_counts = [0] * bins
    for row in _ref_probs(logits):
        reference_counts[_ref_width_bin(max(row), bins)] += 1
    assert C.reliability_diagram(logits, labels, bins=bins)["counts"] == reference_counts
    assert C.classwise_ece(logits, labels, bins=bins) == pytest.approx(
        _ref_classwise(logits, labels, bins), abs=1e-12)
    brier, nll = _ref_brier_nll(logits, labels)
    assert C.brier_score(logits, labels) == pytest.approx(brier, abs=1e-12)
    assert C.nll(logits, labels) == pytest.approx(nll, rel=1e-12, abs=1e-12)


def test_real_logits_match_the_python_loop(real: tuple[torch.Tensor, torch.Tensor]) -> None:
    logits, labels = real[0][:500], real[1][:500]
    m = C.calibration_metrics(logits, labels)
    assert set(m) == set(CF.METRIC_KEYS)
    width, mass = _ref_top(logits, labels, 15, "equal-width"), _ref_top(logits, labels, 15,
                                                                        "equal-mass")
    expected = {"ece": width["l1"], "ece_equal_mass": mass["l1"], "rms": width["l2"],
                "mce": width["max"], "classwise_ece": _ref_classwise(logits, labels, 15),
                "accuracy": float((logits.argmax(1) == labels).double().mean())}
    expected["brier"], expected["nll"] = _ref_brier_nll(logits, labels)
    assert m == pytest.approx(expected, abs=1e-12)
    assert 0.9 < m["accuracy"] < 1 and 0 < m["ece"] < 0.2  # a real, imperfect model


def test_bin_conventions() -> None:
    # K=2 equal logits: confidence exactly 0.5, an edge for even bin counts (right-closed: lower)
    half = torch.zeros(4, 2)
    assert CF.equal_width_bins(torch.tensor([0.5, 1.0, 0.0], dtype=torch.float64), 2).tolist() \
        == [0, 1, 0]
    assert C.reliability_diagram(half, torch.tensor([0, 1, 0, 1]), bins=2)["counts"] == [4, 0]
    # predicted class 0 with confidence 0.5, right half the time: perfectly calibrated
    assert C.ece(half, torch.tensor([0, 1, 0, 1])) == 0.0
    # equal-mass: 10 distinct confidences in 3 bins hold 4, 3, 3 ranks (floor(rank * 3 / 10))
    assert CF.equal_mass_bins(torch.arange(10.0), 3).tolist() == [0] * 4 + [1] * 3 + [2] * 3
    assert CF.equal_mass_bins(torch.tensor([0.7, 0.7, 0.7, 0.2]), 2).tolist() == [0, 0, 0, 0]


def test_large_logits_do_not_overflow() -> None:
    logits, labels = torch.tensor([[1e4, 0.0], [0.0, 3e4]]), torch.tensor([1, 1])
    assert C.nll(logits, labels) == pytest.approx(5e3)
    m = C.calibration_metrics(logits.half().float() * 1e30, labels)
    assert all(math.isfinite(v) for v in m.values()) and m["brier"] == pytest.approx(1.0)


# ---- torchmetrics -----------------------------------------------------------------------------

def _torchmetrics(logits: torch.Tensor, labels: torch.Tensor, norm: str) -> float:
    probs = torch.softmax(logits.double(), dim=1)
    return float(multiclass_calibration_error(probs, labels, logits.shape[1], n_bins=15,
                                              norm=norm))


def _away_from_edges(logits: torch.Tensor, margin: float = 1e-6) -> torch.Tensor:
    """Samples whose confidence is at least ``margin`` from every bin edge and from 1.

    Our bins are right-closed ``(b/15, (b+1)/15]`` (Guo et al.); torchmetrics bucketizes with
    ``right=True`` into left-closed ``[b/15, (b+1)/15)`` plus a 16th bin holding exactly 1.0, after
    casting confidences to float32 (so confidences within ~6e-8 of 1 become 1.0). Away from the
    edges and from 1 the two definitions coincide.
    """
    conf = torch.softmax(logits.double(), dim=1).max(1).values
    distance = (conf[:, None] - CF.bin_edges(15)[None]).abs().min(1).values
    return distance > margin


@pytest.mark.parametrize("scale", [1.0, 1 / 3])
def test_real_logits_match_torchmetrics(real: tuple[torch.Tensor, torch.Tensor],
                                        scale: float) -> None:
    keep = _away_from_edges(real[0] * scale)
    logits, labels = real[0][keep] * scale, real[1][keep]
    assert len(labels) > 800  # confidences that round to 1.0 in float32 are left out
    assert C.ece(logits, labels) == pytest.approx(_torchmetrics(logits, labels, "l1"), abs=2e-6)
    assert C.rms_calibration_error(logits, labels) == pytest.approx(
        _torchmetrics(logits, labels, "l2"), abs=2e-6)
    assert C.mce(logits, labels) == pytest.approx(_torchmetrics(logits, labels, "max"), abs=2e-6)


@settings(max_examples=60, deadline=None)
@given(data=logits_labels(max_n=60))
def test_random_logits_match_torchmetrics(data: tuple[torch.Tensor, torch.Tensor]) -> None:
    keep = _away_from_edges(data[0])
    if not keep.any():
        return
    logits, labels = data[0][keep], data[1][keep]
    for norm, fn in (("l1", C.ece), ("l2", C.rms_calibration_error), ("max", C.mce)):
        assert fn(logits, labels) == pytest.approx(_torchmetrics(logits, labels, norm), abs=2e-6)


def test_torchmetrics_differs_only_at_confidence_one() -> None:
    # confidence exactly 1.0 (wrong) and 0.95 (right): we pool both in the last bin (14/15, 1],
    # torchmetrics gives 1.0 a bin of its own
    logits = torch.tensor([[0.0, 800.0], [math.log(0.95 / 0.05), 0.0]])
    labels = torch.tensor([0, 0])
    assert C.ece(logits, labels) == pytest.approx(abs(0.5 - (1 + 0.95) / 2))
    assert _torchmetrics(logits, labels, "l1") == pytest.approx((1.0 + 0.05) / 2, abs=1e-6)


# ---- batched == one-shot ----------------------------------------------------------------------

@settings(max_examples=60, deadline=None)
@given(data=logits_labels(), bins=st.integers(1, 20),
       cuts=st.lists(st.integers(0, 40), max_size=5))
def test_batched_equals_one_shot(data: tuple[torch.Tensor, torch.Tensor], bins: int,
                                 cuts: list[int]) -> None:
    logits, labels = data
    bounds = sorted({0, len(labels), *(c for c in cuts if c < len(labels))})
    metric = C.CalibrationMetrics(bins=bins)
    for start, stop in itertools.pairwise(bounds):
        metric.update(logits[start:stop], labels[start:stop])
    assert metric.n == len(labels)
    assert metric.compute() == pytest.approx(C.calibration_metrics(logits, labels, bins=bins),
                                             abs=1e-9)


def test_metric_reset_and_real_batches(real: tuple[torch.Tensor, torch.Tensor]) -> None:
    metric = C.CalibrationMetrics()
    metric.update(torch.randn(7, 3), torch.zeros(7, dtype=torch.int64))
    metric.reset()
    for start in range(0, 2000, 300):
        metric.update(real[0][start:start + 300], real[1][start:start + 300])
    assert metric.compute() == pytest.approx(C.calibration_metrics(*real), abs=1e-9)


# ---- temperature scaling ----------------------------------------------------------------------

def test_temperature_on_the_real_model(real: tuple[torch.Tensor, torch.Tensor]) -> None:
    logits, labels = real
    fit_idx, eval_idx = C.split_fit_eval(len(labels), seed=0)
    scaler = C.TemperatureScaler().fit(logits[fit_idx], labels[fit_idx])
    held_out = logits[eval_idx]
    scaled = scaler(held_out)
    assert torch.equal(scaled.argmax(1), held_out.argmax(1))
    assert scaled.dtype == held_out.dtype
    assert C.nll(scaled, labels[eval_idx]) < C.nll(held_out, labels[eval_idx]) - 0.01
    assert C.ece(scaled, labels[eval_idx]) < C.ece(held_out, labels[eval_idx])
    # logits / 5 look under-confident and logits * 5 over-confident to the fit
    fit_logits, fit_labels = logits[fit_idx], labels[fit_idx]
    t = scaler.temperature
    assert C.fit_temperature(fit_logits * 5, fit_labels) > 1
    assert C.fit_temperature(fit_logits / 5, fit_labels) < 1
    # the fit is scale-equivariant: T(c z) = c T(z), up to the search tolerance
    assert C.fit_temperature(fit_logits * 5, fit_labels) == pytest.approx(5 * t, rel=1e-6)
    assert C.fit_temperature(fit_logits / 5, fit_labels) == pytest.approx(t / 5, rel=1e-6)


@pytest.mark.parametrize("scale", [0.25, 1.0, 4.0])
def test_temperature_recovers_a_known_scale(scale: float) -> None:
    # labels drawn from softmax(z) make z calibrated; z * scale needs T = scale to undo
    gen = torch.Generator().manual_seed(1)
    z = 2.0 * torch.randn(4000, 10, generator=gen, dtype=torch.float64)
    labels = torch.multinomial(torch.softmax(z, 1), 1, generator=gen).squeeze(1)
    assert C.fit_temperature(z * scale, labels) == pytest.approx(scale, rel=0.05)


def test_temperature_edge_of_range(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="brittle.calibration.temperature"):
        # all correct: the NLL falls towards 0 as T -> 0 and reaches float zero near T = 1/37
        t = C.fit_temperature(torch.tensor([[1.0, 0.0], [0.0, 1.0]]), torch.tensor([0, 1]))
        assert t < 0.05 and "classified correctly" in caplog.text
        caplog.clear()
        # one right and one wrong by the same margin: the NLL is smallest as T -> infinity
        t = C.fit_temperature(torch.tensor([[0.0, 1.0], [1.0, 0.0]]), torch.tensor([1, 1]))
        assert t == pytest.approx(1e3, rel=1e-6) and "edge of its range" in caplog.text
    # constant logits: the NLL ignores T and the symmetric search returns T = 1
    assert C.fit_temperature(torch.zeros(3, 4), torch.tensor([0, 1, 2])) == pytest.approx(1.0)


def test_temperature_scaler_api() -> None:
    with pytest.raises(BrittleError, match="call fit"):
        C.TemperatureScaler()(torch.zeros(1, 2))
    scaler = C.TemperatureScaler(2.0)
    assert scaler.temperature == 2.0
    assert torch.equal(scaler(torch.tensor([[4.0, -2.0]])), torch.tensor([[2.0, -1.0]]))
    for bad in (0.0, -1.0, math.nan, math.inf):
        with pytest.raises(BrittleError):
            C.TemperatureScaler(bad)


def test_split_fit_eval() -> None:
    fit_idx, eval_idx = C.split_fit_eval(101, fraction=0.3, seed=5)
    assert (len(fit_idx), len(eval_idx)) == (30, 71)
    assert sorted(torch.cat([fit_idx, eval_idx]).tolist()) == list(range(101))
    again = C.split_fit_eval(101, fraction=0.3, seed=5)
    assert torch.equal(again[0], fit_idx) and torch.equal(again[1], eval_idx)
    assert not torch.equal(C.split_fit_eval(101, fraction=0.3, seed=6)[0], fit_idx)
    assert [len(part) for part in C.split_fit_eval(2, fraction=0.01, seed=0)] == [1, 1]
    for kwargs in ({"n": 1}, {"n": 10, "fraction": 0.0}, {"n": 10, "fraction": 1.0}):
        with pytest.raises(BrittleError):
            C.split_fit_eval(**{"seed": 0, **kwargs})  # type: ignore[arg-type]


# ---- reliability diagram ----------------------------------------------------------------------

def test_reliability_diagram(real: tuple[torch.Tensor, torch.Tensor], tmp_path: Path) -> None:
    logits, labels = real
    diagram = C.reliability_diagram(logits, labels)
    assert diagram["edges"] == [b / 15 for b in range(16)]
    assert sum(diagram["counts"]) == len(labels)
    probs = torch.softmax(logits.double(), 1)
    conf, pred = probs.max(1)
    for b in range(15):
        members = [i for i, c in enumerate(conf.tolist()) if _ref_width_bin(c, 15) == b]
        assert diagram["counts"][b] == len(members)
        if not members:
            assert diagram["accuracy"][b] is None and diagram["confidence"][b] is None
            continue
        acc = sum(float(pred[i] == labels[i]) for i in members) / len(members)
        assert diagram["accuracy"][b] == pytest.approx(acc, abs=1e-12)
        assert diagram["confidence"][b] == pytest.approx(conf[members].mean().item(), abs=1e-12)
    assert any(a is None for a in diagram["accuracy"])  # low-confidence bins are empty here

    restored = json.loads(json.dumps(diagram))
    fig = C.plot_reliability(restored, title="tiny LeNet, MNIST")
    path = tmp_path / "reliability.png"
    fig.savefig(path)
    assert path.read_bytes().startswith(PNG_MAGIC)
    from matplotlib.figure import Figure

    ax = Figure().add_subplot()
    assert C.plot_reliability(restored, ax) is ax.figure
    with pytest.raises(BrittleError, match="lacks counts"):
        C.plot_reliability({k: v for k, v in restored.items() if k != "counts"})


# ---- bad input --------------------------------------------------------------------------------

GOOD_Z, GOOD_Y = torch.zeros(3, 4), torch.tensor([0, 1, 3])
BAD_INPUTS = {
    "1-d logits": (torch.zeros(4), torch.tensor([0])),
    "3-d logits": (torch.zeros(3, 4, 1), GOOD_Y),
    "integer logits": (torch.zeros(3, 4, dtype=torch.int64), GOOD_Y),
    "one class": (torch.zeros(3, 1), torch.tensor([0, 0, 0])),
    "empty": (torch.zeros(0, 4), torch.zeros(0, dtype=torch.int64)),
    "labels too short": (GOOD_Z, torch.tensor([0, 1])),
    "2-d labels": (GOOD_Z, GOOD_Y[:, None]),
    "float labels": (GOOD_Z, GOOD_Y.float()),
    "label too large": (GOOD_Z, torch.tensor([0, 1, 4])),
    "negative label": (GOOD_Z, torch.tensor([0, -1, 3])),
    "nan logits": (torch.tensor([[0.0, math.nan]] * 3), torch.tensor([0, 1, 0])),
    "inf logits": (torch.tensor([[0.0, math.inf]] * 3), torch.tensor([0, 1, 0])),
}


@pytest.mark.parametrize("case", sorted(BAD_INPUTS))
def test_bad_input_is_one_line(case: str) -> None:
    logits, labels = BAD_INPUTS[case]
    calls = [C.ece, C.classwise_ece, C.rms_calibration_error, C.mce, C.brier_score, C.nll,
             C.calibration_metrics, C.reliability_diagram, C.fit_temperature,
             C.CalibrationMetrics().update]
    for call in calls:
        with pytest.raises(BrittleError) as info:
            call(logits, labels)
        assert "\n" not in str(info.value) and str(info.value)


@pytest.mark.parametrize("bins", [0, -1, 1.5, True, "15"])
def test_bad_bins(bins: object) -> None:
    for call in (C.ece, C.classwise_ece, C.calibration_metrics, C.reliability_diagram):
        with pytest.raises(BrittleError, match="bins must be"):
            call(GOOD_Z, GOOD_Y, bins=bins)  # type: ignore[operator]
    with pytest.raises(BrittleError, match="bins must be"):
        C.CalibrationMetrics(bins=bins)  # type: ignore[arg-type]


def test_other_bad_arguments() -> None:
    with pytest.raises(BrittleError, match="binning must be"):
        C.ece(GOOD_Z, GOOD_Y, binning="quantile")  # type: ignore[arg-type]
    with pytest.raises(BrittleError, match="max_iter"):
        C.fit_temperature(GOOD_Z, GOOD_Y, max_iter=0)
    metric = C.CalibrationMetrics()
    with pytest.raises(BrittleError, match="before any update"):
        metric.compute()
    metric.update(GOOD_Z, GOOD_Y)
    with pytest.raises(BrittleError, match="5 classes but earlier batches had 4"):
        metric.update(torch.zeros(2, 5), torch.tensor([0, 4]))
