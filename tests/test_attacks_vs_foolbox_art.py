"""Reference checks against foolbox 3.3.4 and ART 1.20.1 (adversarial-robustness-toolbox) on the
same models, data and settings.

brittle's attacks must be at least as strong: robust accuracy no more than 0.5 pp above the
peer's; FGSM, one deterministic step, must give the peers' very images; the minimal-norm
attacks must fool at least as many images, with a median norm no larger (2% slack for DeepFool,
whose three implementations differ only in rounding and candidate handling). The models are
the seeded LeNets of ``apgd_fixtures``: a fast-AT one, so that robust accuracy is neither 0 nor
100% at eps 0.2, and an undefended one at a small eps for the same reason.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
import torch

from apgd_fixtures import correct_batch, mnist_test_batch, robust_model, undefended_model
from brittle.attacks import create
from brittle.models import Classifier

log = logging.getLogger(__name__)

TOLERANCE = 0.005  # 0.5 percentage points
Peer = Callable[[Classifier, torch.Tensor, torch.Tensor], torch.Tensor]  # -> adversarial images


def _model(which: str) -> Classifier:
    return robust_model() if which == "robust" else undefended_model()


def _accuracy(model: Classifier, x_adv: torch.Tensor, y: torch.Tensor) -> float:
    with torch.no_grad():
        return float((model(x_adv).argmax(1) == y).float().mean())


def _fooled_and_norms(model: Classifier, x: torch.Tensor, y: torch.Tensor,
                      x_adv: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    with torch.no_grad():
        fooled = model(x_adv).argmax(1) != y
    return fooled, (x_adv - x).flatten(1).norm(dim=1)


def _foolbox_model(model: Classifier) -> Any:
    fb = pytest.importorskip("foolbox")
    return fb, fb.PyTorchModel(model, bounds=(0.0, 1.0))


def _art_estimator(model: Classifier) -> tuple[Any, Any]:
    pytest.importorskip("art")
    from art.attacks import evasion
    from art.estimators.classification import PyTorchClassifier

    estimator = PyTorchClassifier(model=model, loss=torch.nn.CrossEntropyLoss(),
                                  input_shape=(1, 28, 28), nb_classes=10, clip_values=(0.0, 1.0),
                                  device_type="cpu")
    return evasion, estimator


def _art_run(attack: Any, x: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
    np.random.seed(0)  # ART draws its random starts from numpy's global generator
    labels = y.numpy() if y is not None else None
    return torch.from_numpy(attack.generate(x.numpy(), y=labels))


def _foolbox_pgd(norm: str, eps: float, step: float, steps: int) -> Peer:
    def run(model: Classifier, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        fb, fmodel = _foolbox_model(model)
        kind = {"linf": fb.attacks.LinfPGD, "l2": fb.attacks.L2PGD,
                "l1": fb.attacks.SparseL1DescentAttack}[norm]
        torch.manual_seed(0)
        return kind(abs_stepsize=step, steps=steps, random_start=True)(fmodel, x, y,
                                                                       epsilons=eps)[1]
    return run


def _art_pgd(norm: str, eps: float, step: float, steps: int) -> Peer:
    def run(model: Classifier, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        evasion, estimator = _art_estimator(model)
        attack = evasion.ProjectedGradientDescentPyTorch(
            estimator, norm={"linf": np.inf, "l2": 2}[norm], eps=eps, eps_step=step,
            max_iter=steps, num_random_init=1, batch_size=len(x), verbose=False)
        return _art_run(attack, x, y)
    return run


PGD_CASES = [  # model, norm, eps, peer; ART's L1 PGD is a different, far weaker algorithm
    ("robust", "linf", 0.2, "foolbox"),
    ("robust", "linf", 0.2, "art"),
    ("undefended", "linf", 0.1, "foolbox"),
    ("undefended", "linf", 0.1, "art"),
    ("robust", "l2", 2.0, "foolbox"),
    ("robust", "l2", 2.0, "art"),
    ("robust", "l1", 10.0, "foolbox"),
]


@pytest.mark.parametrize(("which", "norm", "eps", "peer"), PGD_CASES)
def test_pgd_at_least_as_strong(which: str, norm: str, eps: float, peer: str) -> None:
    model = _model(which)
    x, y = mnist_test_batch(500)
    steps = 40
    step = 2.5 * eps / steps
    ours = create("pgd", eps=eps, norm=norm, steps=steps, step_size=step, seed=0)(model, x, y)
    make = _foolbox_pgd if peer == "foolbox" else _art_pgd
    theirs = _accuracy(model, make(norm, eps, step, steps)(model, x, y), y)
    mine = ours.robust_accuracy().value
    log.info("pgd %s %s eps=%s: brittle %.4f, %s %.4f", which, norm, eps, mine, peer, theirs)
    assert 0.0 < theirs < ours.clean_correct.float().mean().item()  # a meaningful comparison
    assert mine <= theirs + TOLERANCE


def test_fgsm_gives_the_peers_images() -> None:
    model = undefended_model()
    x, y = mnist_test_batch(300)
    ours = create("fgsm", eps=0.1, keep="last", early_stop=False)(model, x, y).x_adv
    fb, fmodel = _foolbox_model(model)
    evasion, estimator = _art_estimator(model)
    peers = {"foolbox": fb.attacks.FGSM()(fmodel, x, y, epsilons=0.1)[1],
             "art": _art_run(evasion.FastGradientMethod(estimator, eps=0.1, batch_size=300), x, y)}
    for name, theirs in peers.items():
        differ = float((ours != theirs).float().mean())
        # the sign of a gradient that rounds to about zero may differ; nothing else
        assert differ < 1e-4, f"{name}: {differ:.2e} of the pixels differ"
        assert _accuracy(model, ours, y) == _accuracy(model, theirs, y)


@pytest.mark.slow
@pytest.mark.parametrize(("name", "loss"), [("apgd-ce", "cross_entropy"),
                                            ("apgd-dlr", "difference_logits_ratio")])
def test_apgd_at_least_as_strong_as_art(name: str, loss: str) -> None:
    model = robust_model()
    x, y = mnist_test_batch(300)
    ours = create(name, eps=0.2, steps=100, seed=0)(model, x, y).robust_accuracy().value
    evasion, estimator = _art_estimator(model)
    attack = evasion.AutoProjectedGradientDescent(
        estimator, norm=np.inf, eps=0.2, eps_step=0.4, max_iter=100, nb_random_init=1,
        batch_size=300, loss_type=loss, verbose=False)
    theirs = _accuracy(model, _art_run(attack, x, y), y)
    log.info("%s: brittle %.4f, ART %.4f", name, ours, theirs)
    assert theirs > 0.0  # a meaningful comparison
    assert ours <= theirs + TOLERANCE


@pytest.mark.slow
def test_deepfool_norms_match_foolbox_and_art() -> None:
    model = undefended_model()
    x, y = correct_batch(model, 100)
    ours = create("deepfool", eps=10.0, steps=50, overshoot=0.02)(model, x, y)
    fb, fmodel = _foolbox_model(model)
    evasion, estimator = _art_estimator(model)
    peers = {
        "foolbox": fb.attacks.L2DeepFoolAttack(steps=50, overshoot=0.02, candidates=10)(
            fmodel, x, y, epsilons=None)[0],
        "art": _art_run(evasion.DeepFool(estimator, max_iter=50, epsilon=0.02, nb_grads=10,
                                         batch_size=len(x), verbose=False), x),
    }
    for name, theirs in peers.items():
        fooled, norms = _fooled_and_norms(model, x, y, theirs)
        assert ours.success.float().mean() >= fooled.float().mean(), name
        assert float(ours.norms[ours.success].median()) <= 1.02 * float(norms[fooled].median())


@pytest.mark.slow
def test_cw_beats_foolbox() -> None:
    model = undefended_model()
    x, y = correct_batch(model, 40)
    ours = create("cw", eps=10.0, early_stop=False)(model, x, y)  # 9 binary steps of 100
    fb, fmodel = _foolbox_model(model)
    theirs = fb.attacks.L2CarliniWagnerAttack(binary_search_steps=9, steps=100, stepsize=0.01,
                                              initial_const=1e-2)(fmodel, x, y, epsilons=None)[0]
    fooled, norms = _fooled_and_norms(model, x, y, theirs)
    assert ours.success.float().mean() >= fooled.float().mean()
    both = ours.success & fooled
    assert float(ours.norms[both].median()) <= float(norms[both].median())
