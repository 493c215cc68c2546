"""Clean evaluation agrees with scikit-learn and works for any user nn.Module."""

from __future__ import annotations

import pytest
import torch
from sklearn.metrics import accuracy_score, confusion_matrix, recall_score
from torch import nn

from brittle import data, evaluate, models
from brittle.errors import BrittleError


@pytest.fixture(scope="module")
def digits_model() -> models.Classifier:
    train = data.load("digits", "train")
    torch.manual_seed(0)
    clf = models.build_classifier("lenet5", input_shape=train.input_shape, num_classes=10,
                                  mean=(0.2,), std=(0.3,))
    from brittle import recipes

    recipes.create("standard", epochs=3, batch_size=64).fit(clf, train)
    return clf


def test_evaluate_matches_sklearn(digits_model: models.Classifier) -> None:
    test = data.load("digits", "test")
    result = evaluate(digits_model, test, batch_size=37)
    x, y = test.tensors()
    pred = digits_model.predict_logits(x).argmax(1)
    assert result.accuracy.value == pytest.approx(accuracy_score(y, pred))
    assert result.accuracy.n == len(test)
    assert result.confusion == confusion_matrix(y, pred, labels=range(10)).tolist()
    recalls = recall_score(y, pred, average=None, labels=range(10))
    for stats, recall in zip(result.per_class, recalls, strict=True):
        assert stats.accuracy.value == pytest.approx(recall)
        assert stats.miss_rate.value == pytest.approx(1 - recall)
        assert stats.miss_rate.low <= stats.miss_rate.value <= stats.miss_rate.high
    assert sum(c.n for c in result.per_class) == len(test)
    assert "accuracy" in result.table()


def test_batch_size_does_not_change_results(digits_model: models.Classifier) -> None:
    test = data.load("digits", "test")
    assert evaluate(digits_model, test, batch_size=1000).confusion == \
        evaluate(digits_model, test, batch_size=7).confusion


def test_any_user_module_that_takes_unit_images_works() -> None:
    """A user's own nn.Module, wrapped with its facts, goes straight into evaluate."""
    train = data.load("digits", "train")
    net = nn.Sequential(nn.Flatten(), nn.Linear(28 * 28, 64), nn.ReLU(), nn.Linear(64, 10))
    torch.manual_seed(0)
    clf = models.Classifier(net, input_shape=(1, 28, 28))
    from brittle import recipes

    recipes.create("standard", epochs=5, batch_size=64, lr=0.1).fit(clf, train)
    result = evaluate(net, data.load("digits", "test"), input_shape=(1, 28, 28))
    assert result.accuracy.value > 0.85


def test_mismatched_dataset_is_refused(digits_model: models.Classifier) -> None:
    rgb = data.ImageDataset(torch.zeros(2, 3, 32, 32), torch.tensor([0, 1]), tuple("0123456789"))
    with pytest.raises(BrittleError, match="expects images of shape"):
        evaluate(digits_model, rgb)
    two_class = data.ImageDataset(torch.zeros(2, 1, 28, 28), torch.tensor([0, 1]), ("a", "b"))
    with pytest.raises(BrittleError, match="classes"):
        evaluate(digits_model, two_class)
