"""APGD-CE, APGD-DLR and APGD-T on a tiny LeNet trained on real MNIST."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from apgd_fixtures import Counting, correct_batch, mnist_model, mnist_robust_model, mnist_test_batch
from brittle.attacks import PGD, create
from brittle.attacks.apgd import APGDCE, APGDDLR, APGDT, checkpoints
from brittle.attacks.targets import RandomTarget
from brittle.errors import BrittleError
from brittle.models import Classifier

__all__ = ["mnist_model", "mnist_robust_model"]  # fixtures, imported for pytest


def counting(clf: Classifier) -> tuple[Classifier, Counting]:
    counter = Counting(clf)
    wrapped = Classifier(counter, input_shape=clf.input_shape, num_classes=10)
    counter.images = 0  # wrapping ran the network once, to check its memory layout
    return wrapped, counter


def test_checkpoints_follow_the_paper() -> None:
    assert checkpoints(100) == [22, 41, 57, 70, 80, 87, 93, 99]
    for steps in (1, 5, 10, 37, 250):
        marks = checkpoints(steps)
        assert marks == sorted(set(marks)) and all(0 < w <= steps for w in marks)


def test_registered() -> None:
    assert isinstance(create("apgd-ce", eps=0.1), APGDCE)
    assert isinstance(create("apgd-dlr", eps=0.1), APGDDLR)
    assert isinstance(create("apgd-t", eps=0.1), APGDT)


@pytest.mark.parametrize("name", ["apgd-ce", "apgd-dlr", "apgd-t"])
def test_breaks_undefended_model(mnist_model: Classifier, name: str) -> None:
    x, y = mnist_test_batch(300)
    result = create(name, eps=0.3)(mnist_model, x, y)
    assert result.robust_accuracy().value <= 0.01
    assert float(result.norms.max()) <= 0.3 + 1e-6
    assert float(result.x_adv.min()) >= 0.0 and float(result.x_adv.max()) <= 1.0


def test_l2_breaks_undefended_model(mnist_model: Classifier) -> None:
    x, y = mnist_test_batch(200)
    result = APGDCE(eps=3.0, norm="l2")(mnist_model, x, y)
    assert result.robust_accuracy().value <= 0.01
    assert float(result.norms.max()) <= 3.0 + 1e-4


def test_apgd_t_hits_given_targets(mnist_model: Classifier) -> None:
    x, y = correct_batch(mnist_model, 100)
    result = APGDT(eps=0.3)(mnist_model, x, y, target=RandomTarget())
    assert result.target is not None
    assert result.success_rate().value >= 0.8
    hit = result.logits.argmax(1) == result.target
    assert torch.equal(hit, result.success)


def test_apgd_t_sweeps_the_top_classes(mnist_model: Classifier) -> None:
    """Without a target APGD-T is untargeted: success is any wrong class."""
    x, y = correct_batch(mnist_model, 50)
    result = APGDT(eps=0.15, n_target_classes=3)(mnist_model, x, y)
    assert result.target is None
    assert torch.equal(result.success, result.logits.argmax(1) != y)
    assert result.success_rate().value >= 0.5


def test_success_steps_and_early_stop(mnist_model: Classifier) -> None:
    x, y = mnist_test_batch(100)
    clf, counter = counting(mnist_model)
    stopped = APGDCE(eps=0.3, steps=20)(clf, x, y)
    early_images = counter.images
    counter.images = 0
    full = APGDCE(eps=0.3, steps=20, early_stop=False)(clf, x, y)
    assert counter.images == 2 * len(x) + 21 * len(x)  # clean + final pass, 21 evaluations
    assert early_images < counter.images / 4  # fooled samples leave the batch at once
    assert torch.equal(stopped.success, full.success)
    steps = stopped.success_step
    assert bool((steps[~stopped.clean_correct] == 0).all())
    assert bool((steps[stopped.success & stopped.clean_correct] >= 1).all())


def test_restarts_only_see_robust_samples(mnist_robust_model: Classifier) -> None:
    x, y = mnist_test_batch(40)
    clf, counter = counting(mnist_robust_model)
    one = APGDCE(eps=0.2, steps=10)(clf, x, y)
    images_one = counter.images
    counter.images = 0
    two = APGDCE(eps=0.2, steps=10, restarts=2)(clf, x, y)
    robust_after_one = int((~one.success).sum())
    assert counter.images <= images_one + 11 * robust_after_one
    assert int(two.success.sum()) >= int(one.success.sum())


def test_seeded_and_pure(mnist_model: Classifier) -> None:
    x, y = mnist_test_batch(30)
    x_copy = x.clone()
    weights = {k: v.clone() for k, v in mnist_model.state_dict().items()}
    mnist_model.train()
    a = APGDT(eps=0.1, steps=10, n_target_classes=2, seed=3)(mnist_model, x, y)
    b = APGDT(eps=0.1, steps=10, n_target_classes=2, seed=3)(mnist_model, x, y)
    assert mnist_model.training  # the user's mode is restored
    mnist_model.eval()
    assert torch.equal(a.x_adv, b.x_adv)
    assert torch.equal(x, x_copy)
    for k, v in mnist_model.state_dict().items():
        assert torch.equal(v, weights[k])
    assert all(p.requires_grad for p in mnist_model.parameters())


def test_at_least_as_strong_as_pgd(mnist_robust_model: Classifier) -> None:
    x, y = mnist_test_batch(100)
    apgd = APGDCE(eps=0.2, steps=50)(mnist_robust_model, x, y).robust_accuracy().value
    pgd = PGD(eps=0.2, steps=50)(mnist_robust_model, x, y).robust_accuracy().value
    assert apgd <= pgd


def test_rejects_bad_settings() -> None:
    with pytest.raises(BrittleError):
        APGDCE(eps=0.1, norm="l1")
    with pytest.raises(BrittleError):
        APGDCE(eps=0.1, steps=0)
    with pytest.raises(BrittleError):
        APGDT(eps=0.1, n_target_classes=0)
    three = Classifier(nn.Sequential(nn.Flatten(), nn.Linear(4, 3)), input_shape=(1, 2, 2))
    with pytest.raises(BrittleError, match="at least 4 classes"):
        APGDT(eps=0.1)(three, torch.rand(2, 1, 2, 2), torch.zeros(2, dtype=torch.long))
