"""Gradient-masking checks: deliberately masked models are flagged, a plain LeNet is not."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable

import pytest
import torch
from torch import nn

from brittle.attacks import ATTACKS
from brittle.attacks.base import AttackResult
from brittle.attacks.evaluate import robustness_curve
from brittle.attacks.masking import (
    Finding,
    check_blackbox_vs_whitebox,
    check_determinism,
    check_eps_monotone,
    check_gradient_masking,
    check_outputs,
    check_steps_monotone,
    check_train_mode,
)
from brittle.attacks.pgd import PGD
from brittle.models.classifier import Classifier

pytest_plugins = ["attack_fixtures"]  # mnist_clf, mnist_test, classifier_factory


class Quantize(nn.Module):
    """Rounds the input to 8 grey levels: piecewise constant, so every input gradient is 0."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.round(x * 7) / 7


class SaturatedSoftmax(nn.Module):
    """Defensive-distillation style output: softmax of logits x 100, given as probabilities."""

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return torch.softmax(100 * z, dim=1)


class Noisy(nn.Module):
    """Adds fresh Gaussian noise on every call, even in eval mode (a randomized defense)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + 0.1 * torch.randn_like(x)


@pytest.fixture(scope="module")
def batch(mnist_test: tuple[torch.Tensor, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
    return mnist_test[0][:100], mnist_test[1][:100]


def by_check(findings: list[Finding]) -> dict[str, Finding]:
    return {f.check: f for f in findings}


def test_plain_lenet_is_not_flagged(mnist_clf: Classifier, batch: tuple) -> None:
    findings = check_gradient_masking(mnist_clf, *batch)
    assert [f.severity for f in findings] == ["ok"] * len(findings), findings
    assert {f.check for f in findings} == {"train_mode", "output_kind", "determinism",
                                          "gradients", "unbounded_attack"}
    json.dumps([f.to_dict() for f in findings])


def test_quantized_input_is_flagged(classifier_factory: Callable, batch: tuple) -> None:
    clf = classifier_factory(Quantize())
    found = by_check(check_gradient_masking(clf, *batch))
    assert found["gradients"].severity == "fail"
    assert found["gradients"].evidence["zero_share"] == 1.0
    assert found["unbounded_attack"].severity == "fail"
    assert found["output_kind"].severity == "ok"


def test_saturated_softmax_is_flagged(classifier_factory: Callable, batch: tuple) -> None:
    clf = classifier_factory(after=SaturatedSoftmax())
    found = by_check(check_gradient_masking(clf, *batch))
    assert found["output_kind"].severity == "fail"
    assert found["output_kind"].evidence["probability_rows"] == 1.0
    assert found["gradients"].severity == "fail"
    assert found["unbounded_attack"].severity == "fail"


def test_log_probabilities_are_a_warning(classifier_factory: Callable, batch: tuple) -> None:
    clf = classifier_factory(after=nn.LogSoftmax(dim=1))
    assert check_outputs(clf, batch[0]).severity == "warning"


def test_randomized_model_is_flagged(classifier_factory: Callable, batch: tuple) -> None:
    clf = classifier_factory(Noisy())
    finding = check_determinism(clf, batch[0])
    assert finding.severity == "fail" and finding.evidence["max_relative_difference"] > 0


def test_train_mode_is_reported_and_restored(classifier_factory: Callable,
                                             batch: tuple) -> None:
    clf = classifier_factory()
    clf.train()
    assert check_train_mode(clf).severity == "warning"
    check_gradient_masking(clf, *batch, unbounded_steps=0)
    assert all(m.training for m in clf.modules())
    assert all(p.grad is None for p in clf.parameters())


@pytest.mark.skipif("square" not in ATTACKS, reason="the square attack is not registered")
def test_square_beating_pgd_is_flagged(classifier_factory: Callable, batch: tuple) -> None:
    x, y = batch
    masked = classifier_factory(Quantize())
    pgd = PGD(eps=0.3, steps=10)(masked, x, y)
    square = ATTACKS.create("square", eps=0.3, n_queries=200)(masked, x, y)
    assert check_blackbox_vs_whitebox(square, pgd).severity == "fail"


def test_whitebox_at_least_as_strong_is_ok(mnist_clf: Classifier, batch: tuple) -> None:
    x, y = batch
    strong = PGD(eps=0.2, steps=20)(mnist_clf, x, y)
    weak = ATTACKS.create("fgsm", eps=0.2)(mnist_clf, x, y)
    assert check_blackbox_vs_whitebox(weak, strong).severity == "ok"
    # the other way round: the "black-box" breaks what the white-box missed
    assert check_blackbox_vs_whitebox(strong, [weak]).severity == "fail"


def test_one_blackbox_only_sample_in_a_hundred_is_a_warning(mnist_clf: Classifier,
                                                             batch: tuple) -> None:
    x, y = batch
    whitebox = PGD(eps=0.05, steps=5)(mnist_clf, x, y)
    robust = torch.nonzero(whitebox.clean_correct & whitebox.adv_correct).flatten()
    assert len(robust) >= 50

    def blackbox_breaking(k: int) -> AttackResult:
        """The white-box result with ``k`` of its robust samples broken as well."""
        logits = whitebox.logits.clone()
        logits[robust[:k], (y[robust[:k]] + 1) % 10] = logits[robust[:k]].amax(1) + 1
        return dataclasses.replace(whitebox, logits=logits, attack="square")

    one = check_blackbox_vs_whitebox(blackbox_breaking(1), whitebox)
    assert one.severity == "warning" and "1 sample " in one.message
    assert one.evidence["share_low"] < 0.01 < one.evidence["share_high"]
    ten = check_blackbox_vs_whitebox(blackbox_breaking(10), whitebox)
    assert ten.severity == "fail" and ten.evidence["share_low"] >= 0.01


def test_eps_and_steps_monotonicity(mnist_clf: Classifier, batch: tuple) -> None:
    x, y = batch
    curve = robustness_curve("pgd", mnist_clf, x, y, [0.0, 0.05, 0.1, 0.2], steps=10)
    assert check_eps_monotone(curve).severity == "ok"
    rising = {0.0: 0.98, 0.1: 0.40, 0.2: 0.55}
    finding = check_eps_monotone(rising)
    assert finding.severity == "fail" and finding.evidence["largest_rise"] == pytest.approx(0.15)
    assert check_eps_monotone({0.1: 0.400, 0.2: 0.402}).severity == "warning"
    by_steps = {10: PGD(eps=0.1, steps=10)(mnist_clf, x, y).robust_accuracy(),
                40: PGD(eps=0.1, steps=40)(mnist_clf, x, y).robust_accuracy()}
    assert check_steps_monotone(by_steps).severity in ("ok", "warning")
    assert check_steps_monotone({10: 0.2, 100: 0.5}).severity == "fail"


def test_given_results_join_the_report(mnist_clf: Classifier, batch: tuple) -> None:
    x, y = batch
    pgd = PGD(eps=0.2, steps=10)(mnist_clf, x, y)
    findings = check_gradient_masking(mnist_clf, x, y, unbounded_steps=0, blackbox=pgd,
                                      whitebox=pgd, steps_curve={10: 0.3, 20: 0.2})
    checks = [f.check for f in findings]
    assert "blackbox_vs_whitebox" in checks and "steps_monotone" in checks
    assert "unbounded_attack" not in checks
