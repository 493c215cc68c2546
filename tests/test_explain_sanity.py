"""The Adebayo et al. (2018) model-randomization sanity check on a trained LeNet and real MNIST."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from attack_fixtures import make_classifier
from brittle import explain
from brittle.errors import BrittleError
from brittle.explain.base import Explainer
from brittle.explain.sanity import randomization_order
from brittle.models.classifier import Classifier

pytest_plugins = ["attack_fixtures"]


class SobelEdges(Explainer):
    """Test-only: the input's Sobel edge magnitude. It never looks at the model, so it must fail
    the check. Deliberately not in the production registry."""

    name = "sobel"

    def _explain(self, clf: Classifier, x: torch.Tensor, target: torch.Tensor,
                 ) -> tuple[torch.Tensor, None, dict[str, torch.Tensor]]:
        kx = torch.tensor([[-1.0, 0.0, 1.0], [-2.0, 0.0, 2.0], [-1.0, 0.0, 1.0]])
        c = x.shape[1]
        gx = F.conv2d(x, kx.expand(c, 1, 3, 3).contiguous(), padding=1, groups=c)
        gy = F.conv2d(x, kx.t().expand(c, 1, 3, 3).contiguous(), padding=1, groups=c)
        return (gx.pow(2) + gy.pow(2)).sqrt(), None, {}


@pytest.fixture(scope="module")
def result(mnist_test: tuple[torch.Tensor, torch.Tensor]) -> explain.SanityResult:
    mnist_clf = make_classifier()  # its own copy: other tests may leave gradients on the shared one
    x, y = mnist_test
    before = {k: v.clone() for k, v in mnist_clf.state_dict().items()}
    res = explain.sanity_check(mnist_clf, x[:32], y[:32],
                               methods=["saliency", "gradcam", SobelEdges()], seed=0)
    # the user's model is never touched
    assert all(torch.equal(v, before[k]) for k, v in mnist_clf.state_dict().items())
    assert all(p.grad is None for p in mnist_clf.parameters())
    return res


def test_saliency_and_gradcam_pass_on_a_trained_model(result: explain.SanityResult) -> None:
    for name in ("saliency", "gradcam"):
        m = result.methods[name]
        assert m.passed, m
        assert m.final_spearman_abs < result.threshold
        # similarity falls as more layers are randomized (saliency: steadily)
        assert m.spearman_abs[-1] < 0.5 and m.ssim[-1] < 0.5
    sal = result.methods["saliency"]
    assert sal.spearman_abs[0] > sal.spearman_abs[-1] + 0.15


def test_an_explainer_that_ignores_the_weights_fails(result: explain.SanityResult) -> None:
    sobel = result.methods["sobel"]
    assert not sobel.passed
    assert sobel.spearman_abs == pytest.approx([1.0] * len(sobel.layers))
    assert sobel.ssim == pytest.approx([1.0] * len(sobel.layers))
    assert result.passed == {"saliency": True, "gradcam": True, "sobel": False}


def test_cascade_goes_from_the_logits_down(result: explain.SanityResult,
                                           mnist_clf: Classifier) -> None:
    layers = result.methods["saliency"].layers
    assert layers == ["9", "7", "3", "0"]  # TinyLeNet: fc2, fc1, conv2, conv1
    assert [p for p, _ in randomization_order(mnist_clf)] == layers
    for m in result.methods.values():
        assert len(m.spearman_raw) == len(m.spearman_abs) == len(m.ssim) == len(layers)


def test_result_serializes(result: explain.SanityResult, tmp_path: Path) -> None:
    from brittle.explain.figures import sanity_figure

    payload = json.loads(json.dumps(result.to_dict()))
    assert payload["n"] == 32 and payload["seed"] == 0 and "Spearman" in payload["criterion"]
    assert payload["methods"]["sobel"]["passed"] is False
    assert sanity_figure(result, tmp_path / "sanity.png").read_bytes()[:4] == b"\x89PNG"


def test_sanity_check_is_seeded(mnist_clf: Classifier,
                                mnist_test: tuple[torch.Tensor, torch.Tensor]) -> None:
    x, y = mnist_test[0][:8], mnist_test[1][:8]
    a = explain.sanity_check(mnist_clf, x, y, methods=["saliency"], seed=3).to_dict()
    b = explain.sanity_check(mnist_clf, x, y, methods=["saliency"], seed=3).to_dict()
    assert a == b
    with pytest.raises(BrittleError, match="at least one method"):
        explain.sanity_check(mnist_clf, x, y, methods=[])
