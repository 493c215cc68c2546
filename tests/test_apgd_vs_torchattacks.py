"""brittle's APGD-CE and APGD-T against torchattacks' APGD and APGDT (the reference port of
Croce & Hein's code) on the same model, data, eps and budget (100 steps, 1 restart).

Robust accuracy under brittle's attack must be at most torchattacks' plus 0.5 percentage points.
The comparison uses a model that is somewhat robust (fast FGSM adversarial training), since on
an undefended model both reach 0% and the check would mean nothing; the undefended model is
attacked at a small eps for the same reason. Every case takes minutes on two cores.
"""

from __future__ import annotations

import logging

import pytest
import torch

from apgd_fixtures import mnist_test_batch, robust_model, undefended_model
from brittle.attacks import create
from brittle.models import Classifier

torchattacks = pytest.importorskip("torchattacks")
log = logging.getLogger(__name__)

TOLERANCE = 0.005  # 0.5 percentage points
PEERS = {"apgd-ce": "APGD", "apgd-t": "APGDT"}
CASES = [  # model, norm, eps, number of test images
    ("robust", "linf", 0.2, 500),
    ("robust", "l2", 2.0, 300),
    ("undefended", "linf", 0.1, 300),
]


def _robust_accuracy(model: Classifier, x_adv: torch.Tensor, y: torch.Tensor) -> float:
    with torch.no_grad():
        return float((model(x_adv).argmax(1) == y).float().mean())


def _peer(name: str, model: Classifier, norm: str, eps: float) -> object:
    norm_name = {"linf": "Linf", "l2": "L2"}[norm]
    kwargs = {"loss": "ce"} if name == "apgd-ce" else {"n_classes": 10}
    return getattr(torchattacks, PEERS[name])(model, norm=norm_name, eps=eps, steps=100,
                                              n_restarts=1, seed=0, **kwargs)


@pytest.mark.slow
@pytest.mark.parametrize("name", ["apgd-ce", "apgd-t"])
@pytest.mark.parametrize(("which", "norm", "eps", "n"), CASES)
def test_at_least_as_strong_as_torchattacks(name: str, which: str, norm: str, eps: float,
                                            n: int) -> None:
    model = robust_model() if which == "robust" else undefended_model()
    x, y = mnist_test_batch(n)
    ours = create(name, eps=eps, norm=norm, steps=100, seed=0)(model, x, y)
    theirs = _robust_accuracy(model, _peer(name, model, norm, eps)(x, y), y)  # type: ignore[operator]
    mine = ours.robust_accuracy().value
    log.info("%s %s %s eps=%s n=%d: brittle %.4f, torchattacks %.4f", name, which, norm, eps,
             n, mine, theirs)
    assert 0.0 < theirs < ours.clean_correct.float().mean().item()  # a meaningful comparison
    assert mine <= theirs + TOLERANCE
