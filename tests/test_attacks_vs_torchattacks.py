"""Reference checks against torchattacks on the same model, data and seed.

brittle's attacks must be at least as strong: robust accuracy no more than 0.5 pp above the
peer's (minimal-norm attacks: median norm no larger, up to noise).
"""

from __future__ import annotations

import pytest
import torch

from brittle.attacks.bim import BIM
from brittle.attacks.cw import CarliniWagnerL2
from brittle.attacks.deepfool import DeepFool
from brittle.attacks.fgsm import FGSM
from brittle.attacks.mifgsm import MIFGSM
from brittle.attacks.pgd import PGD
from brittle.models.classifier import Classifier

torchattacks = pytest.importorskip("torchattacks")

SEED = 0

pytest_plugins = ["attack_fixtures"]  # mnist_clf, mnist_test


def peer_robust_accuracy(clf: Classifier, attack: object, x: torch.Tensor,
                         y: torch.Tensor) -> float:
    torch.manual_seed(SEED)
    x_adv = attack(x, y)  # type: ignore[operator]
    with torch.no_grad():
        return float((clf(x_adv).argmax(1) == y).float().mean())


@pytest.fixture(scope="module")
def batch(mnist_test: tuple[torch.Tensor, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
    return mnist_test[0][:300], mnist_test[1][:300]


@pytest.mark.parametrize("eps", [0.1, 0.3])
def test_pgd_at_least_as_strong(mnist_clf: Classifier, batch: tuple, eps: float) -> None:
    x, y = batch
    alpha, steps = eps / 10, 40
    ours = PGD(eps=eps, steps=steps, step_size=alpha, seed=SEED)(mnist_clf, x, y)
    peer = torchattacks.PGD(mnist_clf, eps=eps, alpha=alpha, steps=steps, random_start=True)
    assert ours.robust_accuracy().value <= peer_robust_accuracy(mnist_clf, peer, x, y) + 0.005


def test_fgsm_matches(mnist_clf: Classifier, batch: tuple) -> None:
    x, y = batch
    ours = FGSM(eps=0.1)(mnist_clf, x, y)
    peer = peer_robust_accuracy(mnist_clf, torchattacks.FGSM(mnist_clf, eps=0.1), x, y)
    assert ours.robust_accuracy().value <= peer + 1e-9


@pytest.mark.slow
def test_bim_and_mifgsm_at_least_as_strong(mnist_clf: Classifier, batch: tuple) -> None:
    x, y = batch
    eps, steps = 0.1, 10
    ours = BIM(eps=eps, steps=steps, step_size=eps / 4)(mnist_clf, x, y)
    peer = torchattacks.BIM(mnist_clf, eps=eps, alpha=eps / 4, steps=steps)
    assert ours.robust_accuracy().value <= peer_robust_accuracy(mnist_clf, peer, x, y) + 0.005
    ours = MIFGSM(eps=eps, steps=steps)(mnist_clf, x, y)
    peer = torchattacks.MIFGSM(mnist_clf, eps=eps, alpha=eps / steps, steps=steps, decay=1.0)
    assert ours.robust_accuracy().value <= peer_robust_accuracy(mnist_clf, peer, x, y) + 0.005


def _median_norm(clf: Classifier, x: torch.Tensor, y: torch.Tensor,
                 x_adv: torch.Tensor) -> tuple[float, torch.Tensor]:
    with torch.no_grad():
        fooled = clf(x_adv).argmax(1) != y
    norms = (x_adv - x).flatten(1).norm(dim=1)
    return float(norms[fooled].median()), fooled


@pytest.mark.slow
def test_deepfool_norms_match(mnist_clf: Classifier, batch: tuple) -> None:
    x, y = batch[0][:50], batch[1][:50]
    correct = mnist_clf(x).argmax(1) == y
    x, y = x[correct], y[correct]
    ours = DeepFool(eps=10.0, steps=50, overshoot=0.02)(mnist_clf, x, y)
    peer_adv = torchattacks.DeepFool(mnist_clf, steps=50, overshoot=0.02)(x, y)
    peer_median, peer_fooled = _median_norm(mnist_clf, x, y, peer_adv)
    assert ours.success.float().mean() >= peer_fooled.float().mean() - 0.02
    assert float(ours.norms[ours.success].median()) <= 1.05 * peer_median


@pytest.mark.slow
def test_cw_at_least_as_good(mnist_clf: Classifier, batch: tuple) -> None:
    x, y = batch[0][:40], batch[1][:40]
    correct = mnist_clf(x).argmax(1) == y
    x, y = x[correct], y[correct]
    ours = CarliniWagnerL2(eps=10.0, early_stop=False)(mnist_clf, x, y)
    peer_adv = torchattacks.CW(mnist_clf, c=1.0, kappa=0, steps=100, lr=0.01)(x, y)
    _, peer_fooled = _median_norm(mnist_clf, x, y, peer_adv)
    assert ours.success.float().mean() >= peer_fooled.float().mean()
    both = ours.success & peer_fooled
    peer_norms = (peer_adv - x).flatten(1).norm(dim=1)
    assert float(ours.norms[both].median()) <= float(peer_norms[both].median())
