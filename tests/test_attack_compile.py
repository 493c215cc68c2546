"""The optional ``compile=True`` path gives the eager results on a real trained model."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from attack_fixtures import make_classifier, mnist
from brittle.attacks import create
from brittle.attacks.compiled import compiled_classifier
from brittle.attacks.evaluate import robustness_curve, run_batched
from brittle.models.classifier import Classifier

pytest_plugins = ["attack_fixtures"]


@pytest.mark.slow
def test_compiled_attack_and_curve_match_eager_and_compile_once() -> None:
    clf = make_classifier()
    clf.train()  # the attack must still run in eval mode and hand train mode back
    x, y = mnist("t10k", 96)
    attack = create("pgd", eps=0.15, steps=10, seed=3)
    eager = run_batched(attack, clf, (x, y), batch_size=48)
    fast = run_batched(attack, clf, (x, y), batch_size=48, compile=True)
    assert clf.training
    assert compiled_classifier(clf) is compiled_classifier(clf)
    torch.testing.assert_close(fast.clean_logits, eager.clean_logits, atol=1e-4, rtol=1e-4)
    # float rounding may flip a borderline sample, never more than a couple
    assert (fast.success != eager.success).sum() <= 2
    assert abs(fast.robust_accuracy().k - eager.robust_accuracy().k) <= 2
    assert (fast.x_adv - x).abs().max() <= 0.15 + 1e-6

    budgets = [0.05, 0.1, 0.2]
    eager_curve = robustness_curve("pgd", clf, x, y, budgets, steps=10, batch_size=48)
    fast_curve = robustness_curve("pgd", clf, x, y, budgets, steps=10, batch_size=48,
                                  compile=True)
    for a, b in zip(eager_curve.robust_accuracy, fast_curve.robust_accuracy, strict=True):
        assert abs(a.k - b.k) <= 2


def test_a_compile_mode_replaces_the_default_inductor_options() -> None:
    # torch.compile refuses a mode together with options, so the folding pass must give way
    for options in ({"mode": "max-autotune-no-cudagraphs"}, {"options": {"cpp_wrapper": False}}):
        clf = make_classifier()
        twin = compiled_classifier(clf, **options)  # compiles lazily: nothing runs yet
        assert twin.model is not clf.model and twin.bounds == clf.bounds


@pytest.mark.slow
def test_compiled_batch_norm_network_gives_the_eager_logits_and_gradients() -> None:
    # compile=True folds eval-mode batch norm into the convolution before it; the folded
    # network must compute what the eager one does, with the running statistics of training
    torch.manual_seed(0)
    network = nn.Sequential(nn.Conv2d(1, 8, 3), nn.BatchNorm2d(8), nn.ReLU(), nn.Conv2d(8, 8, 3),
                            nn.BatchNorm2d(8), nn.ReLU(), nn.Flatten(),
                            nn.Linear(8 * 24 * 24, 10))
    x, y = mnist("t10k", 64)
    with torch.no_grad():
        network.train()(x * 3 - 1)  # running statistics far from the initial 0 and 1
        for layer in network:
            if isinstance(layer, nn.BatchNorm2d):
                layer.weight.uniform_(0.5, 2.0)
                layer.bias.uniform_(-0.5, 0.5)
    clf = Classifier(network, input_shape=(1, 28, 28), num_classes=10)
    attack = create("pgd", eps=0.1, steps=5, early_stop=False, seed=0)
    eager = run_batched(attack, clf, (x, y), batch_size=64)
    fast = run_batched(attack, clf, (x, y), batch_size=64, compile=True)
    torch.testing.assert_close(fast.clean_logits, eager.clean_logits, atol=1e-4, rtol=1e-4)
    torch.testing.assert_close(fast.logits, eager.logits, atol=1e-3, rtol=1e-3)
    assert (fast.x_adv != eager.x_adv).float().mean() < 0.01  # sign steps: rare flips only
