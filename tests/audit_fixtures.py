"""Shared pieces of the audit tests: a LeNet-5 trained on the embedded digits, a tiny budget."""

from __future__ import annotations

import functools

from brittle import data, models
from brittle.audit import Budget
from brittle.models.classifier import Classifier
from brittle.recipes import create as create_recipe

# every section runs, on few samples with weak attacks: the audit's plumbing, not its strength
TINY = Budget("tiny", n=120, attack_n=40, curve_budgets=4, pgd_steps=5, pgd_restarts=1,
              autoattack="fast", autoattack_steps=5, ood_n=200, severities=(1, 3, 5))


@functools.lru_cache(maxsize=1)
def _digits_state() -> tuple[dict, tuple[float, float]]:
    train = data.load("digits", "train")
    clf = models.build_classifier("lenet5", input_shape=(1, 28, 28), num_classes=10,
                                  mean=(0.3,), std=(0.33,))
    create_recipe("standard", epochs=6, batch_size=64, lr=0.05, seed=0).fit(
        clf, train, show_progress=False)
    return {k: v.clone() for k, v in clf.state_dict().items()}, (0.3, 0.33)


def digits_classifier() -> Classifier:
    """A fresh LeNet-5 with weights trained (seeded, seconds) on the digits training split."""
    state, (mean, std) = _digits_state()
    clf = models.build_classifier("lenet5", input_shape=(1, 28, 28), num_classes=10,
                                  mean=(mean,), std=(std,))
    clf.load_state_dict(state)
    return clf.eval()
