"""Training: the standard recipe learns real digits, deterministically, and refuses bad settings."""

from __future__ import annotations

import pytest
import torch

from brittle import data, models, recipes
from brittle.attacks.base import AttackResult
from brittle.attacks.pgd import PGD
from brittle.errors import BrittleError


def _lenet(ds: data.ImageDataset) -> models.Classifier:
    return models.build_classifier("lenet5", input_shape=ds.input_shape,
                                   num_classes=ds.num_classes, mean=(0.2,), std=(0.3,))


def test_standard_recipe_learns_digits_and_is_deterministic() -> None:
    train = data.load("digits", "train")
    test = data.load("digits", "test")
    runs = []
    for _ in range(2):
        torch.manual_seed(0)
        clf = _lenet(train)
        recipe = recipes.create("standard", epochs=6, batch_size=64, lr=0.05, seed=3)
        history = recipe.fit(clf, train)
        runs.append((clf, history))
    (a, hist_a), (b, hist_b) = runs
    for pa, pb in zip(a.parameters(), b.parameters(), strict=True):
        assert torch.equal(pa, pb)
    assert [e.loss for e in hist_a.epochs] == [e.loss for e in hist_b.epochs]
    assert hist_a.epochs[-1].loss < hist_a.epochs[0].loss
    x, y = test.tensors()
    accuracy = (a.predict_logits(x).argmax(1) == y).float().mean().item()
    assert accuracy > 0.9
    assert not a.training


def test_different_seeds_give_different_runs() -> None:
    train = data.load("digits", "train").subset(256, seed=0)
    losses = []
    for seed in (0, 1):
        torch.manual_seed(0)
        history = recipes.create("standard", epochs=1, seed=seed).fit(_lenet(train), train)
        losses.append(history.epochs[0].loss)
    assert losses[0] != losses[1]


@pytest.mark.parametrize("bad", [{"epochs": 0}, {"lr": -1.0}, {"lr": float("nan")},
                                 {"optimizer": "rmsprop"}, {"momentum": 1.5}, {"warmup": 3}])
def test_bad_settings_are_refused(bad: dict[str, object]) -> None:
    with pytest.raises(BrittleError):
        recipes.create("standard", **bad)


def test_shape_mismatch_is_refused() -> None:
    train = data.load("digits", "train")
    clf = models.build_classifier("resnet20", input_shape=(3, 32, 32), num_classes=10)
    with pytest.raises(BrittleError, match="expects images of shape"):
        recipes.create("standard", epochs=1).fit(clf, train)


@pytest.mark.parametrize("name", recipes.names())
def test_every_recipe_runs_one_epoch(name: str) -> None:
    train = data.load("digits", "train").subset(128, seed=0)
    history = recipes.create(name, epochs=1, batch_size=64).fit(_lenet(train), train)
    assert len(history.epochs) == 1 and history.epochs[0].images_per_s > 0


def test_eps_warmup_ramps_the_budget_then_holds_it() -> None:
    recipe = recipes.create("fast-at", epochs=5, eps=0.3, eps_warmup=2)
    budgets = []
    for epoch in range(1, 6):
        recipe.begin_epoch(epoch)
        budgets.append((recipe._attack.eps, recipe._attack.step_size))
    assert [round(e, 6) for e, _ in budgets] == [0.1, 0.2, 0.3, 0.3, 0.3]
    assert [round(s, 6) for _, s in budgets] == [0.125, 0.25, 0.375, 0.375, 0.375]
    assert recipe.settings()["eps_warmup"] == 2


def test_eps_warmup_trains_at_the_ramped_budget() -> None:
    """The adversarial examples of epoch 1 stay within the warmed-up budget."""
    train = data.load("digits", "train").subset(64, seed=0)
    recipe = recipes.create("fast-at", epochs=3, batch_size=64, eps=0.3, eps_warmup=2)
    seen: list[float] = []
    batch_loss = recipe.batch_loss

    def spy(clf: models.Classifier, x: torch.Tensor, y: torch.Tensor,
            index: torch.Tensor) -> tuple:
        seen.append(float((recipe._attack(clf, x, y).x_adv - x).abs().max()))
        return batch_loss(clf, x, y, index)

    recipe.batch_loss = spy  # type: ignore[method-assign]
    recipe.fit(_lenet(train), train)
    assert seen[0] <= 0.1 + 1e-6 and seen[1] <= 0.2 + 1e-6 and seen[2] > 0.2


@pytest.mark.parametrize("name", ["fast-at", "pgd-at"])
def test_every_batch_gets_a_fresh_random_start(name: str) -> None:
    """The same batch twice gives two different attacks (new noise), and the seed repeats both."""
    x, y = data.load("digits", "train").subset(32, seed=0).tensors()
    clf = _lenet(data.load("digits", "train"))
    recipe = recipes.create(name, epochs=1, eps=0.3, steps=1)
    runs = []
    for _ in range(2):
        torch.manual_seed(0)  # as fit() seeds it
        runs.append([recipe.batch_loss(clf, x, y, torch.arange(32))[0].item() for _ in range(2)])
    assert runs[0][0] != runs[0][1]
    assert runs[0] == runs[1]


@pytest.mark.parametrize("start", ["prior", "uniform"])
def test_prior_start_continues_from_the_last_perturbation(
        start: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """With a tiny step, an attack started from the sample's previous perturbation ends next to
    it; one started from fresh noise ends anywhere in the ball."""
    train = data.load("digits", "train").subset(32, seed=0)
    x, y = train.tensors()
    recipe = recipes.create("fast-at", epochs=1, eps=0.3, step_size=1e-3, start=start)
    perturbations: list[torch.Tensor] = []
    attack = PGD.__call__

    def recording(self: PGD, clf: models.Classifier, x: torch.Tensor, *args: object,
                  **kwargs: object) -> AttackResult:
        result = attack(self, clf, x, *args, **kwargs)  # type: ignore[arg-type]
        perturbations.append(result.x_adv - x)
        return result

    monkeypatch.setattr(PGD, "__call__", recording)
    clf = _lenet(train)
    recipe.begin_fit(train, "cpu")
    for _ in range(2):
        recipe.batch_loss(clf, x, y, torch.arange(32))
    first, second = perturbations
    assert first.abs().max() > 0.25  # both first starts are the uniform noise of Wong et al.
    moved = (second - first).abs().max().item()
    if start == "prior":  # one step of 1e-3, plus the 2e-4 that half precision may lose
        assert moved <= 1e-3 + 5e-4
    else:
        assert moved > 0.1


def test_prior_start_updates_only_the_batch_samples() -> None:
    """Each stored perturbation is the attack's result on that sample, not another's."""
    train = data.load("digits", "train").subset(64, seed=0)
    x, y = train.tensors()
    clf = _lenet(train)
    recipe = recipes.create("fast-at", epochs=1, eps=0.3, start="prior")
    recipe.begin_fit(train, "cpu")
    first = recipe._prior.clone()
    index = torch.tensor([5, 9, 40])
    recipe.batch_loss(clf, x[index], y[index], index)
    changed = (recipe._prior != first).flatten(1).any(1)
    assert changed.nonzero().flatten().tolist() == [5, 9, 40]
    x_adv = x[index] + 0.3 * recipe._prior[index].float()
    assert (x_adv >= -1e-3).all() and (x_adv <= 1 + 1e-3).all()


def test_prior_start_training_repeats_and_starts_afresh_each_fit() -> None:
    train = data.load("digits", "train").subset(128, seed=0)
    recipe = recipes.create("fast-at", epochs=2, batch_size=32, eps=0.3, eps_warmup=1,
                            start="prior", seed=4)
    runs = []
    for _ in range(2):
        torch.manual_seed(0)
        clf = _lenet(train)
        history = recipe.fit(clf, train)
        runs.append((clf, [e.loss for e in history.epochs]))
    assert runs[0][1] == runs[1][1]
    for pa, pb in zip(runs[0][0].parameters(), runs[1][0].parameters(), strict=True):
        assert torch.equal(pa, pb)
    assert recipe.settings()["start"] == "prior"
    assert recipe._prior is None  # the per-sample perturbations are released after fit


@pytest.mark.parametrize(("bad", "field"), [({"eps_warmup": -1}, "eps_warmup"),
                                            ({"eps_warmup": 3, "epochs": 3}, "eps_warmup"),
                                            ({"start": "zeros"}, "start")])
def test_bad_adversarial_settings_are_refused(bad: dict[str, object], field: str) -> None:
    with pytest.raises(BrittleError, match=field):
        recipes.create("fast-at", **bad)
