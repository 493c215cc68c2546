"""Training: the standard recipe learns real digits, deterministically, and refuses bad settings."""

from __future__ import annotations

import pytest
import torch

from brittle import data, models, recipes
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
