"""AutoAttack's cascade on a tiny LeNet trained on real MNIST."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from apgd_fixtures import mnist_model, mnist_robust_model, mnist_test_batch
from brittle.attacks import Attack, AttackContext, create
from brittle.attacks.autoattack import AutoAttack
from brittle.errors import BrittleError
from brittle.models import Classifier

__all__ = ["mnist_model", "mnist_robust_model"]  # fixtures, imported for pytest


def test_fast_breaks_undefended(mnist_model: Classifier) -> None:
    x, y = mnist_test_batch(100)
    result = create("autoattack", eps=0.3, version="fast")(mnist_model, x, y)
    assert result.params["attacks"] == ["apgd-ce", "apgd-t"]
    assert result.robust_accuracy().value <= 0.01
    broken_by = result.info["broken_by"]
    assert bool((broken_by[~result.clean_correct] == -1).all())
    assert torch.equal(broken_by >= 0, result.success & result.clean_correct)


def test_standard_cascade_records_who_broke_what(mnist_robust_model: Classifier) -> None:
    """Small budgets so that samples survive to FAB-T and Square; the bookkeeping must hold."""
    x, y = mnist_test_batch(24)
    x_copy = x.clone()
    attack = AutoAttack(eps=0.2, steps=5, n_target_classes=2, n_queries=30)
    result = attack(mnist_robust_model, x, y)
    assert torch.equal(x, x_copy)
    assert result.params["attacks"] == ["apgd-ce", "apgd-t", "fab-t", "square"]
    broken_by = result.info["broken_by"]
    assert broken_by.shape == (24,) and int(broken_by.min()) >= -1 and int(broken_by.max()) <= 3
    assert torch.equal(broken_by >= 0, result.success & result.clean_correct)
    assert float(result.norms.max()) <= 0.2 + 1e-6
    assert result.target is None


class Spy(Attack):
    """Runs another attack and remembers how many samples it was given."""

    def __init__(self, inner: Attack, seen: list[int]) -> None:
        super().__init__(eps=inner.eps, norm=inner.norm)
        self.inner, self.seen = inner, seen

    def _search(self, ctx: AttackContext) -> tuple[torch.Tensor, torch.Tensor]:
        self.seen.append(len(ctx.x))
        result = self.inner(ctx.classifier, ctx.x, ctx.labels)
        return result.x_adv, result.success_step


def test_cascade_only_attacks_robust_samples(mnist_robust_model: Classifier,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    """Each component sees exactly the samples that all earlier components failed on."""
    x, y = mnist_test_batch(30)
    seen: list[int] = []
    attack = AutoAttack(eps=0.2, version="fast", steps=5, n_target_classes=2)
    parts = attack.components()
    monkeypatch.setattr(attack, "components", lambda: [Spy(p, seen) for p in parts])
    result = attack(mnist_robust_model, x, y)
    broken_by = result.info["broken_by"]
    assert seen[0] == int(result.clean_correct.sum())
    assert seen[1] == seen[0] - int((broken_by == 0).sum())


def test_rejects_bad_settings(mnist_model: Classifier) -> None:
    with pytest.raises(BrittleError, match="version"):
        AutoAttack(eps=0.1, version="rand")  # type: ignore[arg-type]
    with pytest.raises(BrittleError):
        AutoAttack(eps=0.5, norm="l1")
    x, y = mnist_test_batch(4)
    with pytest.raises(BrittleError, match="untargeted"):
        AutoAttack(eps=0.1, version="fast")(mnist_model, x, y, target="least-likely")


def test_bare_module_and_tiny_model() -> None:
    torch.manual_seed(0)
    net = nn.Sequential(nn.Flatten(), nn.Linear(16, 4))
    x, y = torch.rand(6, 1, 4, 4), torch.randint(0, 4, (6,))
    result = AutoAttack(eps=0.2, steps=5, n_target_classes=2, n_queries=20)(
        net, x, y, input_shape=(1, 4, 4))
    assert result.x_adv.shape == x.shape


@pytest.mark.parametrize(("name", "settings"), [
    ("pgd", {"steps": 5, "restarts": 3}),
    ("apgd-t", {"steps": 5, "n_target_classes": 3}),
    ("fab-t", {"steps": 5, "n_target_classes": 2, "restarts": 2}),
    ("square", {"n_queries": 40}),
])
def test_a_stage_on_a_subset_repeats_the_whole_batch_run(mnist_robust_model: Classifier,
                                                         name: str, settings: dict) -> None:
    """What makes the cascade at least as strong as each stage: drawing as the rows of the
    whole batch, a sample attacked within a subset gets exactly its whole-batch attack."""
    x, y = mnist_test_batch(60)
    attack = create(name, eps=0.15, **settings)
    whole = attack(mnist_robust_model, x, y)
    rows = torch.arange(0, 60, 3)
    with attack.drawing_as_rows(rows, len(x)):
        part = attack(mnist_robust_model, x[rows], y[rows])
    assert torch.equal(part.success, whole.success[rows])
    assert torch.allclose(part.x_adv, whole.x_adv[rows], atol=1e-5)
    if name != "fab-t":  # FAB-T's only random draws are its restarts, which change little here
        alone = attack(mnist_robust_model, x[rows], y[rows])  # draws as a batch of its own
        assert not torch.allclose(alone.x_adv, whole.x_adv[rows], atol=1e-5)
    with pytest.raises(BrittleError, match="rows"), attack.drawing_as_rows(rows[:5], len(x)):
        attack(mnist_robust_model, x[rows], y[rows])


@pytest.mark.slow
def test_at_least_as_strong_as_each_component(mnist_robust_model: Classifier) -> None:
    """AutoAttack's robust accuracy is at most that of each attack in it, on the same samples."""
    x, y = mnist_test_batch(100)
    attack = AutoAttack(eps=0.2)
    auto = attack(mnist_robust_model, x, y)
    auto_acc = auto.robust_accuracy().value
    for part in attack.components():
        single = part(mnist_robust_model, x, y)
        assert auto_acc <= single.robust_accuracy().value, part.name
    assert auto_acc < auto.clean_correct.float().mean().item()
