"""Each attack on a tiny LeNet trained on real MNIST: strength, targets, minimal norms."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from brittle.attacks import ATTACKS
from brittle.attacks.base import AttackContext, AttackResult
from brittle.attacks.bim import BIM, paper_steps
from brittle.attacks.cw import CarliniWagnerL2
from brittle.attacks.deepfool import DeepFool
from brittle.attacks.fgsm import FGSM, RFGSM
from brittle.attacks.mifgsm import MIFGSM
from brittle.attacks.pgd import PGD
from brittle.attacks.targets import LeastLikely
from brittle.errors import BrittleError
from brittle.models.classifier import Classifier

N = 200

pytest_plugins = ["attack_fixtures"]  # mnist_clf, mnist_test


@pytest.fixture(scope="module")
def batch(mnist_test: tuple[torch.Tensor, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
    x, y = mnist_test
    return x[:N], y[:N]


def test_tiny_model_is_accurate(mnist_clf: Classifier, batch: tuple) -> None:
    x, y = batch
    assert (mnist_clf(x).argmax(1) == y).float().mean() >= 0.93


def test_pgd40_linf_03_breaks_undefended_model(mnist_clf: Classifier, batch: tuple) -> None:
    result = PGD(eps=0.3, steps=40)(mnist_clf, *batch)
    assert result.robust_accuracy().value <= 0.01


@pytest.mark.parametrize(("name", "kwargs", "max_robust"), [
    ("fgsm", {}, 0.40),
    ("rfgsm", {}, 0.50),
    ("bim", {"steps": 20}, 0.05),
    ("mifgsm", {}, 0.08),
])
def test_gradient_attacks_linf(mnist_clf: Classifier, batch: tuple, name: str,
                               kwargs: dict, max_robust: float) -> None:
    result = ATTACKS.create(name, eps=0.3, **kwargs)(mnist_clf, *batch)
    assert result.robust_accuracy().value <= max_robust
    assert float(result.norms.max()) <= 0.3 + 1e-6


@pytest.mark.parametrize("name", ["fgsm", "rfgsm", "bim", "mifgsm"])
@pytest.mark.parametrize(("norm", "eps"), [("l2", 3.0), ("l1", 20.0)])
def test_gradient_attacks_other_norms(mnist_clf: Classifier, batch: tuple, name: str, norm: str,
                                      eps: float) -> None:
    x, y = batch
    clean = (mnist_clf(x).argmax(1) == y).float().mean().item()
    result = ATTACKS.create(name, eps=eps, norm=norm)(mnist_clf, x, y)
    # one sparse L1 step moves only the top 1% of pixels, so it is the weakest of these
    drop = 0.1 if norm == "l1" and name in ("fgsm", "rfgsm") else 0.2
    assert result.robust_accuracy().value < clean - drop
    assert float(result.norms.max()) <= eps * (1 + 1e-5)


def test_fgsm_is_the_closed_form_step(mnist_clf: Classifier, batch: tuple) -> None:
    x, y = batch
    xg = x.clone().requires_grad_(True)
    loss = nn.functional.cross_entropy(mnist_clf(xg), y, reduction="sum")
    (grad,) = torch.autograd.grad(loss, xg)
    expected = (x + 0.1 * grad.sign()).clamp(0, 1)
    result = FGSM(eps=0.1, keep="last", early_stop=False)(mnist_clf, x, y)
    torch.testing.assert_close(result.x_adv, expected)


def test_rfgsm_steps_add_up(mnist_clf: Classifier, batch: tuple) -> None:
    attack = RFGSM(eps=0.2)
    assert attack.alpha == pytest.approx(0.1) and attack.step_size == pytest.approx(0.1)
    with pytest.raises(BrittleError):
        RFGSM(eps=0.1, alpha=0.2)


def test_bim_follows_the_paper_defaults() -> None:
    attack = BIM(eps=8 / 255)
    assert attack.steps == 10 and attack.step_size == pytest.approx(1 / 255)
    assert paper_steps(0.3) == 80 and paper_steps(1 / 255) == 1
    explicit = BIM(eps=0.3, steps=10)
    assert explicit.step_size == pytest.approx(0.03)
    assert not explicit.random_start


def test_mifgsm_momentum_stays_aligned_with_compaction(mnist_clf: Classifier,
                                                       batch: tuple) -> None:
    """Compaction must carry each sample's momentum: per-sample trajectories, and so the step
    of first success, are the same whether or not fooled samples leave the batch."""
    compact = MIFGSM(eps=0.2, steps=10)(mnist_clf, *batch)
    full = MIFGSM(eps=0.2, steps=10, early_stop=False)(mnist_clf, *batch)
    assert torch.equal(compact.success_step, full.success_step)
    assert int(compact.success.sum()) > 20


def test_full_length_attack_skips_the_final_forward_of_broken_samples(mnist_clf: Classifier,
                                                                     batch: tuple) -> None:
    x, y = batch
    correct = mnist_clf(x).argmax(1) == y
    x, y = x[correct], y[correct]
    seen = []
    hook = mnist_clf.register_forward_hook(lambda m, inputs, out: seen.append(len(inputs[0])))
    try:
        broken = PGD(eps=0.3, steps=10, early_stop=False)(mnist_clf, x, y)
        forwarded_broken = sum(seen)
        seen.clear()
        PGD(eps=0.0, steps=10, early_stop=False)(mnist_clf, x, y)
    finally:
        hook.remove()
    assert bool(broken.success.all()) and int(broken.success_step.max()) < 10
    # the clean pass and ten gradient steps; every sample kept an earlier adversarial iterate
    assert forwarded_broken == 11 * len(x)
    # nothing breaks at eps 0, so every sample needs its final iterate evaluated too
    assert sum(seen) == 12 * len(x)


def test_keep_last_with_early_stop_returns_the_adversarial(mnist_clf: Classifier,
                                                           batch: tuple) -> None:
    best = PGD(eps=0.3, steps=20)(mnist_clf, *batch)
    last = PGD(eps=0.3, steps=20, keep="last")(mnist_clf, *batch)
    assert torch.equal(best.success, last.success)
    assert float(last.norms.max()) > 0.2


def test_warm_start_from_an_adversarial_succeeds_at_step_zero(mnist_clf: Classifier,
                                                               batch: tuple) -> None:
    x, y = batch
    found = PGD(eps=0.3, steps=20)(mnist_clf, x, y)
    attack = PGD(eps=0.3, steps=20, seed=5)
    with attack.warm_start(found.x_adv):
        warm = attack(mnist_clf, x, y)
    assert attack._warm is None
    assert bool((warm.success_step[found.success] == 0).all())
    with pytest.raises(BrittleError), attack.warm_start(found.x_adv[:3]):
        attack(mnist_clf, x, y)


@pytest.mark.parametrize(("cls", "norm", "budgets"), [
    (PGD, "linf", (0.02, 0.05, 0.1)),
    (PGD, "l2", (0.5, 1.0, 2.0)),
    (MIFGSM, "linf", (0.02, 0.05, 0.1)),
])
def test_own_budgets_attack_each_sample_as_its_budgets_attack_would(
        mnist_clf: Classifier, batch: tuple, cls: type[PGD | MIFGSM], norm: str,
        budgets: tuple[float, ...]) -> None:
    """One batch mixing three budgets (as robustness curves run their probes) gives every sample
    what the attack built with its budget gives it, from the same start, early stopping and all."""
    x, y = batch
    level = torch.arange(len(y)) % len(budgets)
    attacks = [cls(eps=eps, norm=norm, steps=10) for eps in budgets]
    start = x + 0.01 * torch.randn(x.shape, generator=torch.Generator().manual_seed(0))
    eps = torch.tensor(budgets)[level]
    step = torch.tensor([a.step_size for a in attacks])[level]
    mixed_attack = attacks[-1]
    with mixed_attack.warm_start(start), mixed_attack.own_budgets(eps, step):
        mixed = mixed_attack(mnist_clf, x, y)
    assert mixed_attack._budgets is None
    for k, attack in enumerate(attacks):
        at = level == k
        with attack.warm_start(start[at]):
            alone = attack(mnist_clf, x[at], y[at])
        assert torch.equal(mixed.success[at], alone.success)
        assert torch.equal(mixed.success_step[at], alone.success_step)
        torch.testing.assert_close(mixed.x_adv[at], alone.x_adv, atol=1e-6, rtol=0)
        assert bool((mixed.norms[at] <= budgets[k] * (1 + 1e-5)).all())
    # the smaller budgets really bind: the largest alone would break more of those samples
    assert int(mixed.success.sum()) < int(mixed_attack(mnist_clf, x, y).success.sum())


def test_own_budgets_draw_random_starts_in_each_samples_ball(mnist_clf: Classifier,
                                                              batch: tuple) -> None:
    """Restarts draw their starts uniformly in each sample's own ball, not the attack's."""
    x, y = batch
    eps = torch.where(torch.arange(len(y)) % 2 == 0, 0.05, 0.2)
    attack = PGD(eps=0.2, steps=5)
    ctx = AttackContext(mnist_clf, x, y, None, 0.2, "linf", torch.Generator())
    with attack.own_budgets(eps, eps / 4):
        reach = (attack._start(ctx, x, torch.arange(len(y))) - x).flatten(1).abs().amax(1)
    assert bool((reach <= eps).all()) and bool((reach > 0.95 * eps).all())


def test_own_budgets_reject_budgets_beyond_the_attack(mnist_clf: Classifier,
                                                      batch: tuple) -> None:
    x, y = batch
    attack = PGD(eps=0.1, steps=5)
    with pytest.raises(BrittleError, match="within eps"), \
            attack.own_budgets(torch.full((len(y),), 0.2), torch.full((len(y),), 0.05)):
        pass
    with pytest.raises(BrittleError, match="budgets for"), \
            attack.own_budgets(torch.full((3,), 0.1), torch.full((3,), 0.05)):
        attack(mnist_clf, x, y)


@pytest.mark.parametrize(("name", "kwargs", "min_success"), [
    ("pgd", {"eps": 0.3, "steps": 40}, 0.70),
    ("bim", {"eps": 0.3, "steps": 40, "step_size": 0.02}, 0.70),
    ("mifgsm", {"eps": 0.3, "steps": 20}, 0.30),
])
def test_least_likely_targets_are_hit(mnist_clf: Classifier, batch: tuple, name: str,
                                      kwargs: dict, min_success: float) -> None:
    x, y = batch
    result = ATTACKS.create(name, **kwargs)(mnist_clf, x, y, target="least-likely")
    _check_least_likely(result, mnist_clf, x)
    assert result.success_rate().value >= min_success


def _check_least_likely(result: AttackResult, clf: Classifier, x: torch.Tensor) -> None:
    with torch.no_grad():
        least = clf(x).argmin(1)
    assert result.target is not None and torch.equal(result.target, least)
    hit = result.logits.argmax(1) == result.target
    assert torch.equal(result.success, hit)


def test_deepfool_finds_small_l2_perturbations(mnist_clf: Classifier, batch: tuple) -> None:
    x, y = batch[0][:100], batch[1][:100]
    result = DeepFool(eps=10.0)(mnist_clf, x, y)
    fooled = result.success & result.clean_correct
    assert result.success_rate().value >= 0.98
    median = float(result.norms[fooled].median())
    assert 0.3 < median < 2.5
    # the boundary is really close: PGD-L2 with the same budget breaks most samples too
    pgd = PGD(eps=median, norm="l2", steps=40)(mnist_clf, x, y)
    assert pgd.success_rate().value >= 0.4


def test_deepfool_linf(mnist_clf: Classifier, batch: tuple) -> None:
    x, y = batch[0][:100], batch[1][:100]
    result = DeepFool(eps=1.0, norm="linf")(mnist_clf, x, y)
    assert result.success_rate().value >= 0.98
    assert float(result.norms[result.success].median()) < 0.25


def test_deepfool_is_untargeted_and_l2_linf_only() -> None:
    with pytest.raises(BrittleError):
        DeepFool(eps=1.0, norm="l1")


def test_deepfool_refuses_targets(mnist_clf: Classifier, batch: tuple) -> None:
    with pytest.raises(BrittleError):
        DeepFool(eps=1.0)(mnist_clf, batch[0][:4], batch[1][:4], target="least-likely")


@pytest.mark.slow
def test_cw_beats_deepfool_norms(mnist_clf: Classifier, batch: tuple) -> None:
    x, y = batch[0][:60], batch[1][:60]
    deepfool = DeepFool(eps=10.0)(mnist_clf, x, y)
    cw = CarliniWagnerL2(eps=10.0, early_stop=False)(mnist_clf, x, y)
    both = cw.success & deepfool.success & cw.clean_correct
    assert cw.success_rate().value >= 0.98
    assert float(cw.norms[both].median()) <= float(deepfool.norms[both].median())
    assert float(cw.norms[both].mean()) < 2.0


def test_cw_small_budget_run(mnist_clf: Classifier, batch: tuple) -> None:
    """Short C&W: finds adversarials in a modest L2 ball and stops samples once inside it."""
    x, y = batch[0][:40], batch[1][:40]
    result = CarliniWagnerL2(eps=2.0, steps=100, binary_search_steps=4, initial_const=1.0)(
        mnist_clf, x, y)
    assert result.success_rate().value >= 0.6
    assert float(result.norms.max()) <= 2.0 + 1e-5


def test_cw_least_likely_target(mnist_clf: Classifier, batch: tuple) -> None:
    x, y = batch[0][:30], batch[1][:30]
    result = CarliniWagnerL2(eps=8.0, steps=100, binary_search_steps=4, initial_const=1.0)(
        mnist_clf, x, y, target=LeastLikely())
    _check_least_likely(result, mnist_clf, x)
    assert result.success_rate().value >= 0.8


def test_cw_confidence_makes_larger_margins(mnist_clf: Classifier, batch: tuple) -> None:
    x, y = batch[0][:20], batch[1][:20]
    result = CarliniWagnerL2(eps=10.0, steps=50, binary_search_steps=4, confidence=5.0,
                             early_stop=False)(mnist_clf, x, y)
    ok = result.success & result.clean_correct
    true = result.logits.gather(1, y[:, None]).squeeze(1)
    best_other = result.logits.scatter(1, y[:, None], float("-inf")).amax(1)
    assert bool((best_other[ok] - true[ok] >= 5.0 - 1e-3).all())


def test_cw_is_l2_only() -> None:
    with pytest.raises(BrittleError):
        CarliniWagnerL2(eps=0.3, norm="linf")
