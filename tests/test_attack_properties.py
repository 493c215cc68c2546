"""Property tests of the attack invariants, for every registered attack.

Parametrized over ``ATTACKS.names()``, so an attack is tested the day it is registered. Each
example attacks a few real MNIST test images with a tiny seeded net that has batch norm and
dropout (so a forgotten eval mode would change its outputs and its running statistics).
"""

from __future__ import annotations

import inspect
from typing import Any

import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from torch import nn

from brittle.attacks import ATTACKS
from brittle.attacks.functional import NORMS, is_adversarial, lp_norm
from brittle.attacks.targets import RandomTarget
from brittle.errors import BrittleError
from brittle.models.classifier import Classifier

NUM_CLASSES = 5
# the cheapest settings each hyperparameter allows; applied only where an attack has it
SMALL: dict[str, Any] = {"steps": 3, "restarts": 1, "binary_search_steps": 2, "n_queries": 20,
                         "n_target_classes": 2}
MAX_EPS = {"linf": 0.3, "l2": 3.0, "l1": 15.0}

pytest_plugins = ["attack_fixtures"]  # mnist_test


def tiny_classifier(seed: int) -> Classifier:
    """A seeded 1-conv net with batch norm and dropout, 5 outputs, on 28x28 images."""
    torch.manual_seed(seed)
    net = nn.Sequential(nn.Conv2d(1, 4, 5, stride=3), nn.BatchNorm2d(4), nn.ReLU(),
                        nn.Flatten(), nn.Dropout(0.2), nn.Linear(4 * 8 * 8, NUM_CLASSES))
    bn = net[1]
    assert isinstance(bn, nn.BatchNorm2d)
    with torch.no_grad():
        bn.running_mean.uniform_(-0.5, 0.5)
        bn.running_var.uniform_(0.5, 2.0)
    return Classifier(net, input_shape=(1, 28, 28), mean=(0.1307,), std=(0.3081,))


def small_kwargs(name: str) -> dict[str, Any]:
    params = inspect.signature(ATTACKS.get(name)).parameters
    return {k: v for k, v in SMALL.items() if k in params}


def attack_norms(name: str) -> tuple[str, ...]:
    """The norms the attack accepts with its default settings (constructors may refuse some)."""
    ok = []
    for norm in NORMS:
        try:
            ATTACKS.create(name, eps=0.1, norm=norm, **small_kwargs(name))
        except BrittleError:
            continue
        ok.append(norm)
    return tuple(ok)


def set_mode(clf: Classifier, mode: str) -> dict[str, bool]:
    clf.train(mode != "eval")
    if mode == "mixed":
        clf.model[1].eval()
    return {name: m.training for name, m in clf.named_modules()}


@st.composite
def cases(draw: st.DrawFn, name: str) -> dict[str, Any]:
    norm = draw(st.sampled_from(attack_norms(name)))
    targeted_ok = getattr(ATTACKS.get(name), "targeted_ok", True)
    return {
        "start": draw(st.integers(0, 990)),
        "n": draw(st.integers(1, 6)),
        "norm": norm,
        "eps": draw(st.one_of(st.just(0.0), st.floats(0.0, MAX_EPS[norm]))),
        "targeted": targeted_ok and draw(st.booleans()),
        "mode": draw(st.sampled_from(["eval", "train", "mixed"])),
        "seed": draw(st.integers(0, 3)),
        "net_seed": draw(st.integers(0, 2**16)),
    }


@pytest.mark.parametrize("name", ATTACKS.names())
def test_invariants(name: str, mnist_test: tuple[torch.Tensor, torch.Tensor]) -> None:
    @settings(max_examples=6, deadline=None, derandomize=True,
              suppress_health_check=[HealthCheck.too_slow])
    @given(case=cases(name))
    def check(case: dict[str, Any]) -> None:
        _check_invariants(name, case, *mnist_test)

    check()


def _check_invariants(name: str, case: dict[str, Any], images: torch.Tensor,
                      labels: torch.Tensor) -> None:
    x = images[case["start"]:case["start"] + case["n"]].clone()
    y = labels[case["start"]:case["start"] + case["n"]] % NUM_CLASSES
    clf = tiny_classifier(case["net_seed"])
    modes = set_mode(clf, case["mode"])
    state = {k: v.clone() for k, v in clf.state_dict().items()}
    x_copy, y_copy = x.clone(), y.clone()
    target = RandomTarget() if case["targeted"] else None
    attack = ATTACKS.create(name, eps=case["eps"], norm=case["norm"], seed=case["seed"],
                            **small_kwargs(name))

    result = attack(clf, x, y, target=target)

    # inputs, weights, buffers and modes untouched; no weight gradient ever computed
    assert torch.equal(x, x_copy) and torch.equal(y, y_copy)
    for key, value in clf.state_dict().items():
        assert torch.equal(value, state[key]), f"{name} changed {key}"
    assert all(p.grad is None for p in clf.parameters()), f"{name} populated a weight .grad"
    assert {n: m.training for n, m in clf.named_modules()} == modes
    # inside the bounds and the eps ball
    assert result.x_adv.shape == x.shape
    assert float(result.x_adv.min()) >= 0.0 and float(result.x_adv.max()) <= 1.0
    tol = 1e-5 * max(1.0, case["eps"])
    norms = lp_norm(result.x_adv - x, case["norm"])
    assert float(norms.max()) <= case["eps"] + tol
    assert torch.allclose(result.norms, norms, atol=1e-6)
    # success flags agree with the logits of the returned images, in eval mode
    with clf.evaluating(), torch.no_grad():
        logits = clf(result.x_adv)
        clean = clf(x)
    assert torch.allclose(result.logits, logits, rtol=1e-4, atol=1e-5)
    assert torch.allclose(result.clean_logits, clean, rtol=1e-4, atol=1e-5)
    assert torch.equal(result.success, is_adversarial(logits, y, result.target))
    assert torch.equal(result.success, result.success_step >= 0)
    if case["targeted"]:
        assert result.target is not None and bool((result.target != y).all())
    # the same seed gives the same result
    again = ATTACKS.create(name, eps=case["eps"], norm=case["norm"], seed=case["seed"],
                           **small_kwargs(name))(clf, x, y, target=target)
    assert torch.equal(again.x_adv, result.x_adv)
    assert torch.equal(again.success, result.success)


def test_every_attack_is_tested() -> None:
    """The registry holds at least the attacks this project ships."""
    expected = {"pgd", "fgsm", "rfgsm", "bim", "mifgsm", "cw", "deepfool"}
    assert expected <= set(ATTACKS.names())
