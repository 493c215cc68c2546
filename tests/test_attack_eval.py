"""Evaluation helpers on a tiny LeNet trained on real MNIST: curves, per-class reports, batches."""

from __future__ import annotations

import json
from collections.abc import Callable

import pytest
import torch

from brittle.attacks.base import AttackResult
from brittle.attacks.bim import BIM
from brittle.attacks.evaluate import (
    concat_results,
    per_class_report,
    robustness_curve,
    run_batched,
)
from brittle.attacks.fgsm import FGSM
from brittle.attacks.pgd import PGD
from brittle.errors import BrittleError
from brittle.models.classifier import Classifier

BUDGETS = [0.0, 0.02, 0.04, 0.06, 0.08, 0.1, 0.15, 0.2]

pytest_plugins = ["attack_fixtures"]  # mnist_clf, mnist_test, classifier_factory


class GradientScale(torch.nn.Module):
    """The identity, whose backward pass multiplies the gradient by ``scale``."""

    def __init__(self, scale: float) -> None:
        super().__init__()
        self.scale = scale

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.detach() + self.scale * (x - x.detach())


def _pp(a: float, b: float) -> float:
    return 100 * abs(a - b)


# --------------------------------------------------------------------------- curves


def test_curve_shape_and_consistency(mnist_clf: Classifier, mnist_test: tuple) -> None:
    x, y = mnist_test[0][:150], mnist_test[1][:150]
    curve = robustness_curve("pgd", mnist_clf, x, y, list(reversed(BUDGETS)), steps=10)
    assert curve.eps == BUDGETS
    values = curve.values()
    assert values == sorted(values, reverse=True)  # monotone by construction
    assert curve.robust_accuracy[0].k == curve.clean_accuracy.k  # eps = 0: clean accuracy
    assert curve.attacked[0] == 0
    assert all(r.n == len(y) for r in curve.robust_accuracy)
    # per-sample breaking budgets reproduce the curve
    for eps, rate in zip(curve.eps, curve.robust_accuracy, strict=True):
        assert int((curve.breaking_eps > eps).sum()) == rate.k
    json.dumps(curve.to_dict())


def test_curve_reuse_attacks_fewer_samples(mnist_clf: Classifier, mnist_test: tuple) -> None:
    x, y = mnist_test[0][:150], mnist_test[1][:150]
    reuse = robustness_curve("pgd", mnist_clf, x, y, BUDGETS, steps=10)
    separate = robustness_curve("pgd", mnist_clf, x, y, BUDGETS, steps=10, method="separate")
    assert sum(reuse.attacked) < 0.5 * sum(separate.attacked)
    warm = robustness_curve("pgd", mnist_clf, x, y, BUDGETS, steps=10, warm_start=True)
    assert warm.warm_start and not reuse.warm_start and not separate.warm_start
    assert warm.values() == sorted(warm.values(), reverse=True)


def test_curve_reuse_equals_separate_runs(mnist_clf: Classifier, mnist_test: tuple) -> None:
    """PGD with random starts: the one-run curve matches separate runs, with less work."""
    x, y = mnist_test[0][:200], mnist_test[1][:200]
    reuse = robustness_curve("pgd", mnist_clf, x, y, BUDGETS, steps=10, batch_size=64)
    separate = robustness_curve("pgd", mnist_clf, x, y, BUDGETS, steps=10, batch_size=64,
                                method="separate")
    for a, b in zip(reuse.values(), separate.values(), strict=True):
        assert _pp(a, b) <= 0.3
    assert sum(reuse.attacked) < 0.6 * sum(separate.attacked)


def test_curve_search_finds_each_samples_breaking_budget(mnist_clf: Classifier,
                                                         mnist_test: tuple) -> None:
    """Not just the rates: the search finds the breaking budget of every sample that the
    separate runs find, attacking each sample at about two budgets rather than eight."""
    x, y = mnist_test[0][:200], mnist_test[1][:200]
    reuse = robustness_curve("pgd", mnist_clf, x, y, BUDGETS[1:], steps=10, batch_size=64)
    separate = robustness_curve("pgd", mnist_clf, x, y, BUDGETS[1:], steps=10, batch_size=64,
                                method="separate")
    assert torch.equal(reuse.breaking_eps, separate.breaking_eps)
    # broken at no budget at all when already misclassified, though the grid starts above 0
    missed = mnist_clf.predict_logits(x).argmax(1) != y
    assert bool(missed.any()) and bool((reuse.breaking_eps[missed] == 0).all())
    assert bool((reuse.breaking_eps[~missed] >= BUDGETS[1]).all())
    correct = int(reuse.clean_accuracy.k)
    assert sum(reuse.attacked) <= 2.5 * correct


def test_curve_search_without_mixed_budgets_finds_the_same_breaking_budgets(
        mnist_clf: Classifier, mnist_test: tuple) -> None:
    """Attacks whose settings differ by budget in more than eps and step size cannot share a
    batch across budgets; the search then walks the budgets one at a time, down and up, with
    the same per-sample result as separate runs."""
    x, y = mnist_test[0][:120], mnist_test[1][:120]

    def factory(eps: float) -> PGD:
        return PGD(eps=eps, steps=8 if eps < 0.1 else 10)

    calls: list[float] = []
    original = PGD.__call__

    def counted(self: PGD, *args: object, **kwargs: object) -> object:
        calls.append(self.eps)
        return original(self, *args, **kwargs)

    budgets = BUDGETS[1:]
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(PGD, "__call__", counted)
        reuse = robustness_curve(factory, mnist_clf, x, y, budgets)
        walked = list(calls)
        calls.clear()
        robustness_curve("pgd", mnist_clf, x, y, budgets, steps=10)
    separate = robustness_curve(factory, mnist_clf, x, y, budgets, method="separate")
    assert torch.equal(reuse.breaking_eps, separate.breaking_eps)
    # one pass down and one up: each budget attacked at most twice, in that order
    assert all(walked.count(eps) <= 2 for eps in budgets)
    down = walked[:next((i for i in range(1, len(walked)) if walked[i] > walked[i - 1]),
                        len(walked))]
    assert down == sorted(down, reverse=True)
    assert walked[len(down):] == sorted(walked[len(down):])
    # budgets that mix run as rounds of one call each, all budgets together
    assert len(calls) < len(walked)


@pytest.mark.parametrize("scale", [0.01, 100.0])
def test_curve_search_recovers_from_bad_first_guesses(
        classifier_factory: Callable[..., Classifier], mnist_test: tuple, scale: float) -> None:
    """Scaling the input gradient leaves Linf PGD (which follows its sign) unchanged but moves
    every first-order guess to the top (x 0.01) or the bottom (x 100) budget; the search then
    walks all the way down or up and still finds the separate runs' breaking budgets."""
    clf = classifier_factory(GradientScale(scale))
    x, y = mnist_test[0][:100], mnist_test[1][:100]
    budgets = BUDGETS[1:]
    reuse = robustness_curve("pgd", clf, x, y, budgets, steps=5)
    separate = robustness_curve("pgd", clf, x, y, budgets, steps=5, method="separate")
    assert torch.equal(reuse.breaking_eps, separate.breaking_eps)
    assert reuse.attacked[0 if scale > 1 else -1] == int(reuse.clean_accuracy.k)


@pytest.mark.slow
def test_curve_reuse_agrees_with_separate_runs(mnist_clf: Classifier,
                                               mnist_test: tuple) -> None:
    """PGD-40 with random starts on 1000 real images and 8 budgets: the one-run curve agrees
    with separate runs within 0.3 pp at every budget. With warm starts it is a stronger attack,
    so it may lie below separate runs but never more than 0.3 pp above them."""
    x, y = mnist_test
    separate = robustness_curve("pgd", mnist_clf, x, y, BUDGETS, steps=40, method="separate")
    reuse = robustness_curve("pgd", mnist_clf, x, y, BUDGETS, steps=40)
    gaps = [100 * (a - b) for a, b in zip(reuse.values(), separate.values(), strict=True)]
    assert max(abs(g) for g in gaps) <= 0.3 + 1e-9, gaps
    assert sum(reuse.attacked) < 0.5 * sum(separate.attacked)
    warm = robustness_curve("pgd", mnist_clf, x, y, BUDGETS, steps=40, warm_start=True)
    gaps = [100 * (a - b) for a, b in zip(warm.values(), separate.values(), strict=True)]
    assert max(gaps) <= 0.3 + 1e-9, gaps


def test_curve_with_targets_and_batches(mnist_clf: Classifier, mnist_test: tuple) -> None:
    x, y = mnist_test[0][:64], mnist_test[1][:64]
    curve = robustness_curve("pgd", mnist_clf, x, y, [0.1, 0.2, 0.3], steps=5,
                             target="least-likely", batch_size=16)
    assert curve.targeted
    assert curve.values() == sorted(curve.values(), reverse=True)


def test_curve_rejects_bad_input(mnist_clf: Classifier, mnist_test: tuple) -> None:
    x, y = mnist_test[0][:4], mnist_test[1][:4]
    with pytest.raises(BrittleError):
        robustness_curve("pgd", mnist_clf, x, y, [])
    with pytest.raises(BrittleError):
        robustness_curve("pgd", mnist_clf, x, y, [-0.1, 0.1])
    with pytest.raises(BrittleError):
        robustness_curve("no-such-attack", mnist_clf, x, y, [0.1])
    with pytest.raises(BrittleError):
        robustness_curve(lambda e: PGD(eps=e), mnist_clf, x, y, [0.1], steps=3)
    with pytest.raises(BrittleError):
        robustness_curve("pgd", mnist_clf, x, y, [0.1], method="bogus")  # type: ignore[arg-type]


# --------------------------------------------------------------------------- per-class report


@pytest.fixture(scope="module")
def pgd_result(mnist_clf: Classifier, mnist_test: tuple) -> AttackResult:
    x, y = mnist_test[0][:300], mnist_test[1][:300]
    return PGD(eps=0.1, steps=10)(mnist_clf, x, y)


def test_per_class_rates(pgd_result: AttackResult) -> None:
    names = [f"digit {i}" for i in range(10)]
    report = per_class_report(pgd_result, names)
    labels = pgd_result.labels
    assert [c.name for c in report.classes] == names
    assert sum(c.n for c in report.classes) == len(labels) == report.overall.n
    for c, row in enumerate(report.classes):
        mask = labels == c
        ok = mask & pgd_result.clean_correct
        assert row.n == int(mask.sum())
        assert row.clean_accuracy.k == int(ok.sum())
        assert row.robust_accuracy.k == int((mask & pgd_result.adv_correct).sum())
        assert row.success_rate.n == int(ok.sum())
        assert row.success_rate.k == int((ok & pgd_result.success).sum())
        assert row.robust_accuracy.low <= row.robust_accuracy.value <= row.robust_accuracy.high
    assert report.overall.robust_accuracy.k == pgd_result.robust_accuracy().k
    assert report.overall.success_rate.k == pgd_result.success_rate().k
    assert len(report.most_vulnerable(3)) == 3


def test_confusion_matrix_sums(pgd_result: AttackResult) -> None:
    report = per_class_report(pgd_result)
    confusion = torch.tensor(report.confusion)
    assert confusion.shape == (10, 10)
    assert int(confusion.sum()) == len(pgd_result.labels)
    assert confusion.sum(1).tolist() == [c.n for c in report.classes]
    assert int(confusion.trace()) == int(pgd_result.adv_correct.sum())
    assert confusion.sum(0).tolist() == torch.bincount(pgd_result.logits.argmax(1),
                                                       minlength=10).tolist()
    data = json.loads(json.dumps(report.to_dict()))
    assert data["confusion"] == report.confusion and not data["targeted"]


def test_per_class_report_least_likely(mnist_clf: Classifier, mnist_test: tuple) -> None:
    x, y = mnist_test[0][:100], mnist_test[1][:100]
    result = PGD(eps=0.3, steps=20)(mnist_clf, x, y, target="least-likely")
    report = per_class_report(result)
    assert report.targeted
    hits = sum(row.success_rate.k for row in report.classes)
    assert hits == int((result.success & result.clean_correct).sum())
    with pytest.raises(BrittleError):
        per_class_report(result, ["just", "three", "names"])


# --------------------------------------------------------------------------- batches


def test_run_batched_equals_one_call(mnist_clf: Classifier, mnist_test: tuple) -> None:
    x, y = mnist_test[0][:50], mnist_test[1][:50]
    attack = BIM(eps=0.1, steps=5)
    whole = attack(mnist_clf, x, y)
    parts = run_batched(attack, mnist_clf, (x, y), batch_size=16, progress=False)
    torch.testing.assert_close(parts.x_adv, whole.x_adv)
    assert torch.equal(parts.success, whole.success)
    assert torch.equal(parts.success_step, whole.success_step)
    assert parts.attack == whole.attack and parts.eps == whole.eps


def test_run_batched_splits_tensor_targets(mnist_clf: Classifier, mnist_test: tuple) -> None:
    x, y = mnist_test[0][:40], mnist_test[1][:40]
    target = (y + 3) % 10
    result = run_batched(FGSM(eps=0.2), mnist_clf, (x, y), batch_size=7, target=target)
    assert result.target is not None and torch.equal(result.target, target)


def test_run_batched_on_a_dataset(mnist_clf: Classifier, mnist_test: tuple) -> None:
    x, y = mnist_test[0][:20], mnist_test[1][:20]
    dataset = torch.utils.data.TensorDataset(x, y)
    result = run_batched(FGSM(eps=0.1), mnist_clf, dataset, batch_size=8)
    assert len(result.labels) == 20 and torch.equal(result.labels, y)
    with pytest.raises(BrittleError):
        run_batched(FGSM(eps=0.1), mnist_clf, (x[:0], y[:0]), batch_size=8)


def test_concat_keeps_order(mnist_clf: Classifier, mnist_test: tuple) -> None:
    x, y = mnist_test[0][:10], mnist_test[1][:10]
    a, b = FGSM(eps=0.1)(mnist_clf, x[:4], y[:4]), FGSM(eps=0.1)(mnist_clf, x[4:], y[4:])
    both = concat_results([a, b])
    assert torch.equal(both.labels, y) and both.target is None
