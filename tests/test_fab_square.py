"""FAB and Square on a tiny LeNet trained on real MNIST, and FAB's hyperplane projection."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import example, given, settings
from hypothesis import strategies as st
from scipy.optimize import linprog, minimize

from apgd_fixtures import Counting, correct_batch, mnist_model, mnist_robust_model, mnist_test_batch
from brittle.attacks import PGD, create
from brittle.attacks.base import AttackContext
from brittle.attacks.fab import FAB, FABT, hyperplane_box_projection
from brittle.attacks.square import Square, window_fraction
from brittle.attacks.targets import LeastLikely
from brittle.errors import BrittleError
from brittle.models import Classifier

__all__ = ["mnist_model", "mnist_robust_model"]  # fixtures, imported for pytest


# -- FAB's projection onto a hyperplane inside the box ------------------------------------------

def _reference_linf(p: np.ndarray, w: np.ndarray, c: float) -> float:
    """min ||d||_inf s.t. <w, d> = c, 0 <= p + d <= 1, as a linear program over (d, t)."""
    n = len(p)
    cost = np.r_[np.zeros(n), 1.0]
    upper = np.block([[np.eye(n), -np.ones((n, 1))], [-np.eye(n), -np.ones((n, 1))]])
    bounds = [(-pi, 1 - pi) for pi in p] + [(0, None)]
    res = linprog(cost, A_ub=upper, b_ub=np.zeros(2 * n), A_eq=np.r_[w, 0.0][None],
                  b_eq=[c], bounds=bounds)
    return float(res.fun) if res.success else float("nan")


def _reference_l2(p: np.ndarray, w: np.ndarray, c: float) -> float:
    res = minimize(lambda d: d @ d, np.zeros(len(p)), jac=lambda d: 2 * d, method="SLSQP",
                   bounds=[(-pi, 1 - pi) for pi in p],
                   constraints=[{"type": "eq", "fun": lambda d: w @ d - c}],
                   options={"ftol": 1e-12, "maxiter": 500})
    return float(np.sqrt(res.fun)) if res.success else float("nan")


@example(seed=1558, dim=5, norm="linf", scale=1.78125)  # c rounded to float32 missed by 1e-7
@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 2**16), dim=st.integers(1, 6), norm=st.sampled_from(["linf", "l2"]),
       scale=st.floats(0.01, 2.0))
def test_projection_is_minimal_and_feasible(seed: int, dim: int, norm: str, scale: float) -> None:
    rng = np.random.default_rng(seed)
    p, w = rng.uniform(0, 1, dim), rng.normal(size=dim)
    c = float(scale * rng.normal())
    d = hyperplane_box_projection(torch.tensor(p[None]), torch.tensor(w[None]),
                                  torch.tensor([c], dtype=torch.float64), 0.0, 1.0,
                                  norm)[0].numpy()
    assert np.all(p + d >= -1e-9) and np.all(p + d <= 1 + 1e-9)
    reachable = c <= np.sum(np.where(w > 0, 1 - p, -p) * w) if c > 0 else \
        c >= np.sum(np.where(w > 0, -p, 1 - p) * w)
    if not reachable:  # as close as the box allows
        assert abs(w @ d) <= abs(c) + 1e-9 and np.sign(w @ d) in (0, np.sign(c))
        return
    assert w @ d == pytest.approx(c, abs=1e-7)
    size = np.abs(d).max() if norm == "linf" else np.linalg.norm(d)
    ref = _reference_linf(p, w, c) if norm == "linf" else _reference_l2(p, w, c)
    if np.isfinite(ref):
        assert size <= ref + 1e-5


# -- FAB ------------------------------------------------------------------------------------------

def test_fab_t_finds_small_perturbations(mnist_model: Classifier) -> None:
    x, y = correct_batch(mnist_model, 100)
    fab = FABT(eps=0.3)(mnist_model, x, y)
    pgd = PGD(eps=0.3, steps=20)(mnist_model, x, y)
    assert fab.success_rate().value >= 0.95
    # PGD walks to the edge of the eps ball; FAB stops near the decision boundary
    assert float(fab.norms[fab.success].mean()) < 0.6 * 0.3
    assert float(fab.norms[fab.success].mean()) < float(pgd.norms[pgd.success].mean())


def test_jacobian_of_the_logits(mnist_model: Classifier) -> None:
    """Untargeted FAB's linearization: every logit's input gradient, as autograd computes it."""
    x, y = mnist_test_batch(3)
    ctx = AttackContext(mnist_model, x, y, None, 0.3, "linf", torch.Generator())
    with mnist_model.evaluating():
        logits, jacobian = ctx.logits_and_jacobian(x)
        reference = torch.autograd.functional.jacobian(mnist_model, x)  # (N, K, N, C, H, W)
    rows = torch.arange(len(x))
    assert torch.allclose(logits, mnist_model(x).detach())
    assert torch.allclose(jacobian, reference[rows, :, rows].flatten(2), atol=1e-6)
    assert jacobian.shape == (3, mnist_model.num_classes, 28 * 28)


def test_fab_untargeted_and_targeted(mnist_model: Classifier) -> None:
    x, y = correct_batch(mnist_model, 20)
    result = FAB(eps=0.3, steps=30)(mnist_model, x, y)
    assert result.success_rate().value >= 0.95
    targeted = FAB(eps=0.3, steps=30)(mnist_model, x, y, target=LeastLikely(k=1))
    assert targeted.target is not None
    assert torch.equal(targeted.success, targeted.logits.argmax(1) == targeted.target)
    assert targeted.success_rate().value >= 0.4  # least likely class: APGD-T gets 55% here


def test_fab_failures_are_projected(mnist_robust_model: Classifier) -> None:
    """With a tiny eps FAB mostly fails, and every returned point is inside the eps ball."""
    x, y = mnist_test_batch(30)
    result = create("fab-t", eps=0.05, steps=20, n_target_classes=2)(mnist_robust_model, x, y)
    assert float(result.norms.max()) <= 0.05 + 1e-6
    assert result.success_rate().value < 0.5


@pytest.mark.slow
def test_fab_refines_without_early_stop(mnist_model: Classifier) -> None:
    x, y = correct_batch(mnist_model, 40)
    stopped = FABT(eps=0.3, n_target_classes=3)(mnist_model, x, y)
    refined = FABT(eps=0.3, n_target_classes=3, early_stop=False)(mnist_model, x, y)
    both = stopped.success & refined.success
    assert bool((refined.norms[both] <= stopped.norms[both] + 1e-6).all())
    assert float(refined.norms[both].mean()) < float(stopped.norms[both].mean())


def test_fab_rejects_bad_settings() -> None:
    with pytest.raises(BrittleError):
        FAB(eps=0.1, norm="l1")
    with pytest.raises(BrittleError):
        FAB(eps=0.1, beta=1.0)
    with pytest.raises(BrittleError):
        FABT(eps=0.1, n_target_classes=0)


# -- Square ---------------------------------------------------------------------------------------

def test_window_schedule() -> None:
    assert window_fraction(0.8, 0, 5000) == 0.8
    assert window_fraction(0.8, 6, 5000) == 0.4  # iteration 12 on the 10000 scale
    assert window_fraction(0.8, 4999, 5000) == pytest.approx(0.8 / 512)


def test_square_breaks_undefended_within_budget(mnist_model: Classifier) -> None:
    x, y = mnist_test_batch(200)
    counter = Counting(mnist_model)
    clf = Classifier(counter, input_shape=(1, 28, 28), num_classes=10)
    counter.images = 0  # wrapping ran the network once, to check its memory layout
    result = Square(eps=0.3, n_queries=300)(clf, x, y)
    assert result.robust_accuracy().value <= 0.1
    queries = result.queries
    assert queries is not None
    assert int(queries.max()) <= 300
    assert int(counter.images) == int(queries.sum()) + 2 * len(x)  # plus clean + final pass
    assert bool((queries[~result.clean_correct] == 0).all())
    broken = result.success & result.clean_correct
    assert torch.equal(queries[broken], result.success_step[broken])
    assert bool((queries[~result.success] == 300).all())
    assert float(result.norms.max()) <= 0.3 + 1e-6


def test_square_l2(mnist_model: Classifier) -> None:
    x, y = mnist_test_batch(100)
    result = Square(eps=3.0, norm="l2", n_queries=200)(mnist_model, x, y)
    assert float(result.norms.max()) <= 3.0 + 1e-4
    assert result.robust_accuracy().value <= 0.4  # clean accuracy is about 92%
    assert result.queries is not None and int(result.queries.max()) <= 200


def test_square_targeted(mnist_model: Classifier) -> None:
    x, y = correct_batch(mnist_model, 30)
    result = Square(eps=0.3, n_queries=500)(mnist_model, x, y, target=LeastLikely(k=1))
    assert result.target is not None
    assert torch.equal(result.success, result.logits.argmax(1) == result.target)
    assert result.success_rate().value >= 0.3


def test_square_is_seeded(mnist_robust_model: Classifier) -> None:
    x, y = mnist_test_batch(20)
    a = Square(eps=0.2, n_queries=50, seed=5)(mnist_robust_model, x, y)
    b = Square(eps=0.2, n_queries=50, seed=5)(mnist_robust_model, x, y)
    assert torch.equal(a.x_adv, b.x_adv)
    assert a.queries is not None and b.queries is not None
    assert torch.equal(a.queries, b.queries)


def test_square_rejects_bad_settings() -> None:
    with pytest.raises(BrittleError):
        Square(eps=0.1, norm="l1")
    with pytest.raises(BrittleError):
        Square(eps=0.1, n_queries=0)
    with pytest.raises(BrittleError):
        Square(eps=0.1, p_init=0.0)
