"""Explainers: exact definitions, invariants over the registry, captum cross-checks, hand-built
models whose answer is known, clean vs adversarial and root-cause statistics."""

from __future__ import annotations

import colorsys
import json
from pathlib import Path

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.stats import spearmanr
from torch import nn

from brittle import attacks, explain
from brittle.errors import BrittleError
from brittle.explain import functional as EF
from brittle.models.classifier import Classifier

pytest_plugins = ["attack_fixtures"]

SMALL = {"smoothgrad": {"samples": 4}, "integrated_gradients": {"steps": 8}}


def pearson(a: torch.Tensor, b: torch.Tensor) -> float:
    return float(np.corrcoef(a.flatten().numpy(), b.flatten().numpy())[0, 1])


def small(name: str, **kw: object) -> explain.Explainer:
    return explain.create(name, **{**SMALL.get(name, {}), **kw})


@pytest.fixture(scope="module")
def batch(mnist_test: tuple[torch.Tensor, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
    x, y = mnist_test
    return x[:6], y[:6]


# --- exact definitions ---------------------------------------------------------------------

def test_saliency_is_the_input_gradient_of_the_target_logit(mnist_clf: Classifier,
                                                           batch: tuple) -> None:
    x, y = batch
    e = explain.create("saliency")(mnist_clf, x, y)
    xr = x.clone().requires_grad_(True)
    (direct,) = torch.autograd.grad(mnist_clf(xr).gather(1, y[:, None]).sum(), xr)
    torch.testing.assert_close(e.maps, direct)
    torch.testing.assert_close(e.positive() + e.negative(), e.maps)
    assert (e.positive() >= 0).all() and (e.negative() <= 0).all()
    assert e.method == "saliency" and e.target.tolist() == y.tolist() and e.cam is None


def test_default_target_is_the_prediction(mnist_clf: Classifier, batch: tuple) -> None:
    x, _ = batch
    e = explain.create("saliency")(mnist_clf, x)
    assert e.target.tolist() == mnist_clf.predict_logits(x).argmax(1).tolist()
    assert explain.create("saliency")(mnist_clf, x, 3).target.tolist() == [3] * len(x)


def test_smoothgrad_without_noise_is_saliency(mnist_clf: Classifier, batch: tuple) -> None:
    x, y = batch
    smooth = explain.create("smoothgrad", noise=0.0, samples=5)(mnist_clf, x, y).maps
    plain = explain.create("saliency")(mnist_clf, x, y).maps
    torch.testing.assert_close(smooth, plain, rtol=1e-5, atol=1e-7)


def test_smoothgrad_is_seeded(mnist_clf: Classifier, batch: tuple) -> None:
    x, y = batch
    a = explain.create("smoothgrad", samples=4, seed=1)(mnist_clf, x, y).maps
    b = explain.create("smoothgrad", samples=4, seed=1)(mnist_clf, x, y).maps
    c = explain.create("smoothgrad", samples=4, seed=2)(mnist_clf, x, y).maps
    assert torch.equal(a, b) and not torch.equal(a, c)


@pytest.mark.parametrize("method", ["riemann_trapezoid", "gausslegendre"])
def test_integrated_gradients_completeness_on_trained_lenet(mnist_clf: Classifier,
                                                           mnist_test: tuple, method: str) -> None:
    x, y = mnist_test[0][:16], mnist_test[1][:16]
    e = explain.create("integrated_gradients", steps=200, method=method)(mnist_clf, x, y)
    gap = e.info["completeness_gap"]
    assert gap.shape == (16,) and (gap < 0.01).all(), gap
    # the reported gap is the real one
    expected = e.info["score"] - e.info["baseline_score"]
    recomputed = (e.maps.flatten(1).sum(1) - expected).abs() / expected.abs()
    torch.testing.assert_close(gap, recomputed)
    # fewer steps integrate worse: the gap is a meaningful error measure
    coarse = explain.create("integrated_gradients", steps=4, method=method)(mnist_clf, x, y)
    assert coarse.info["completeness_gap"].median() > gap.median()


def test_integrated_gradients_baseline_image(mnist_clf: Classifier, batch: tuple) -> None:
    x, y = batch
    grey = torch.full((1, 28, 28), 0.5)
    e = explain.create("integrated_gradients", steps=64, baseline=grey)(mnist_clf, x, y)
    with torch.no_grad():
        base = mnist_clf(grey[None].expand_as(x)).gather(1, y[:, None]).squeeze(1)
    torch.testing.assert_close(e.info["baseline_score"], base)
    assert (e.info["completeness_gap"] < 0.05).all()
    # attribution is zero where the image equals the baseline
    same = x.clone()
    same[:, :, :5] = 0.5
    assert (explain.create("integrated_gradients", steps=8, baseline=grey)(
        mnist_clf, same, y).maps[:, :, :5] == 0).all()


def test_integration_points_integrate_polynomials() -> None:
    for method, degree in (("gausslegendre", 9), ("riemann_trapezoid", 1)):
        alphas, weights = EF.integration_points(5, method)  # type: ignore[arg-type]
        assert float(weights.sum()) == pytest.approx(1.0)
        assert float((weights * alphas ** degree).sum()) == pytest.approx(1 / (degree + 1))
    with pytest.raises(BrittleError, match="steps"):
        explain.create("integrated_gradients", steps=1, method="riemann_trapezoid")


# --- hand-built models whose answer is known -----------------------------------------------

def quadrant_model(bias: float) -> Classifier:
    """Channel k of a 2x2 stride-2 conv averages colour k (minus ``bias``); after ReLU,
    global average pooling and an identity-like linear layer, class k = "there is colour k"."""
    conv = nn.Conv2d(3, 3, 2, stride=2)
    linear = nn.Linear(3, 3)
    with torch.no_grad():
        conv.weight.zero_()
        for k in range(3):
            conv.weight[k, k] = 0.25
        conv.bias.fill_(-bias)
        linear.weight.copy_(10 * torch.eye(3))
        linear.bias.zero_()
    net = nn.Sequential(conv, nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(), linear)
    return Classifier(net, input_shape=(3, 16, 16), class_names=["red", "green", "blue"]).eval()


def squares_image() -> tuple[torch.Tensor, dict[int, tuple[slice, slice]]]:
    """Black 16x16 image: red square top-left, green bottom-right, blue top-right."""
    quadrants = {0: (slice(0, 8), slice(0, 8)), 1: (slice(8, 16), slice(8, 16)),
                 2: (slice(0, 8), slice(8, 16))}
    x = torch.zeros(1, 3, 16, 16)
    x[0, 0, 2:6, 2:6] = 1.0
    x[0, 1, 10:14, 10:14] = 1.0
    x[0, 2, 2:6, 10:14] = 1.0
    return x, quadrants


@pytest.mark.parametrize("method", ["gradcam", "gradcam_plus_plus"])
@pytest.mark.parametrize(("bias", "layer"), [(0.0, "last_conv"), (0.5, "1")])
def test_cam_peaks_in_the_quadrant_of_its_class(method: str, bias: float, layer: str) -> None:
    clf = quadrant_model(bias)
    x, quadrants = squares_image()
    for k, (rows, cols) in quadrants.items():
        e = explain.create(method, layer=layer)(clf, x, k)
        assert e.cam is not None and e.cam.shape == (1, 1, 8, 8)
        assert e.maps.shape == (1, 1, 16, 16)
        cam = e.maps[0, 0]
        inside = cam[rows, cols]
        assert float(inside.max()) == pytest.approx(float(cam.max()))
        assert float(inside.sum()) > 0.95 * float(cam.sum())


def test_gradcam_matches_the_paper_formula_on_lenet(mnist_clf: Classifier, batch: tuple) -> None:
    x, y = batch
    e = explain.create("gradcam")(mnist_clf, x, y)
    xr = x.clone().requires_grad_(True)
    feats = mnist_clf.features(xr, ["last_conv"])
    acts = feats["last_conv"]
    (grads,) = torch.autograd.grad(feats["logits"].gather(1, y[:, None]).sum(), acts)
    cam = (grads.mean((2, 3), keepdim=True) * acts).sum(1, keepdim=True).clamp_min(0)
    torch.testing.assert_close(e.cam, cam.detach())


# --- invariants over the registry ----------------------------------------------------------

@pytest.mark.parametrize("name", explain.names())
def test_batched_equals_one_shot(name: str, mnist_clf: Classifier, batch: tuple) -> None:
    x, y = batch
    chunked = small(name, batch_size=3)(mnist_clf, x, y)
    whole = small(name, batch_size=1000)(mnist_clf, x, y)
    # float noise of differently batched convolutions, relative to each map's scale (Grad-CAM++
    # amplifies it where a pre-ReLU channel's denominator nears zero)
    scale = whole.maps.flatten(1).abs().max(1).values[:, None, None, None]
    assert ((chunked.maps - whole.maps).abs() <= 1e-4 * scale + 1e-7).all()
    for key, value in whole.info.items():
        torch.testing.assert_close(chunked.info[key], value, rtol=1e-3, atol=1e-5)


@pytest.mark.parametrize("name", explain.names())
def test_inputs_weights_and_modes_are_left_alone(name: str, classifier_factory: object,
                                                 batch: tuple) -> None:
    clf = classifier_factory()  # type: ignore[operator]
    clf.train()
    clf.model[1].eval()  # a user's mixed modes must come back as they were
    seen: list[bool] = []
    clf.model.register_forward_pre_hook(lambda module, args: seen.append(module.training))
    x, y = batch
    x0, y0 = x.clone(), y.clone()
    before = {k: v.clone() for k, v in clf.state_dict().items()}
    e = small(name)(clf, x, y)
    assert seen and not any(seen)
    assert clf.training and not clf.model[1].training and clf.model[0].training
    assert torch.equal(x, x0) and torch.equal(y, y0)
    assert all(p.grad is None and p.requires_grad for p in clf.parameters())
    assert all(torch.equal(v, before[k]) for k, v in clf.state_dict().items())
    assert e.maps.shape[0] == len(x) and e.maps.shape[2:] == x.shape[2:]
    assert torch.isfinite(e.maps).all() and not e.maps.requires_grad


@pytest.mark.parametrize(("target", "fragment"), [
    (torch.tensor([1, 2]), "target must be"),
    (torch.full((6,), 10), "target classes must lie in"),
    (torch.zeros(6), "target must be"),
])
def test_bad_targets_are_one_line_errors(mnist_clf: Classifier, batch: tuple,
                                         target: torch.Tensor, fragment: str) -> None:
    with pytest.raises(BrittleError, match=fragment):
        explain.create("saliency")(mnist_clf, batch[0], target)


def test_bad_images_are_one_line_errors(mnist_clf: Classifier) -> None:
    with pytest.raises(BrittleError, match="bounds"):
        explain.create("saliency")(mnist_clf, torch.full((1, 1, 28, 28), 2.0))
    with pytest.raises(BrittleError, match="shape"):
        explain.create("gradcam")(mnist_clf, torch.rand(1, 3, 28, 28))
    with pytest.raises(BrittleError, match="unknown explainer"):
        explain.create("lime")


# --- cross-checks against captum -----------------------------------------------------------

@pytest.mark.filterwarnings("ignore:Input Tensor 0 did not already require gradients")
def test_saliency_matches_captum(mnist_clf: Classifier, batch: tuple) -> None:
    from captum.attr import Saliency

    x, y = batch
    ref = Saliency(mnist_clf).attribute(x.clone(), target=y, abs=False)
    torch.testing.assert_close(explain.create("saliency")(mnist_clf, x, y).maps, ref)


def test_integrated_gradients_matches_captum(mnist_clf: Classifier, batch: tuple) -> None:
    from captum.attr import IntegratedGradients

    x, y = batch
    ref, delta = IntegratedGradients(mnist_clf).attribute(
        x.clone(), baselines=torch.zeros_like(x), target=y, n_steps=50,
        method="gausslegendre", return_convergence_delta=True)
    e = explain.create("integrated_gradients", steps=50)(mnist_clf, x, y)
    torch.testing.assert_close(e.maps, ref, rtol=1e-4, atol=1e-6)
    expected = e.info["score"] - e.info["baseline_score"]
    torch.testing.assert_close(e.info["completeness_gap"], delta.abs() / expected.abs(),
                               rtol=1e-2, atol=1e-5)


def test_gradcam_matches_captum(mnist_clf: Classifier, batch: tuple) -> None:
    from captum.attr import LayerAttribution, LayerGradCam

    x, y = batch
    layer = mnist_clf.model[3]  # the last nn.Conv2d of TinyLeNet
    low = LayerGradCam(mnist_clf, layer).attribute(x.clone(), target=y, relu_attributions=True)
    up = LayerAttribution.interpolate(low, (28, 28), "bilinear")
    e = explain.create("gradcam")(mnist_clf, x, y)
    torch.testing.assert_close(e.cam, low.detach())
    torch.testing.assert_close(e.maps, up.detach())


def test_smoothgrad_agrees_with_captum_noise_tunnel(mnist_clf: Classifier, batch: tuple) -> None:
    from captum.attr import NoiseTunnel, Saliency

    x, y = batch
    torch.manual_seed(0)
    ref = NoiseTunnel(Saliency(mnist_clf)).attribute(
        x.clone(), target=y, nt_type="smoothgrad", nt_samples=128, stdevs=0.15, abs=False)
    ours = explain.create("smoothgrad", samples=128)(mnist_clf, x, y).maps
    plain = explain.create("saliency")(mnist_clf, x, y).maps
    # different noise draws, so compare the averages statistically: ours is far closer to the
    # reference than plain saliency is
    corr = [pearson(a, b) for a, b in zip(ours, ref, strict=True)]
    base = [pearson(a, b) for a, b in zip(plain, ref, strict=True)]
    assert min(corr) > 0.9 and np.mean(corr) > np.mean(base) + 0.05, (corr, base)


# --- functional pieces ---------------------------------------------------------------------

@pytest.mark.filterwarnings("ignore:An input array is constant")
@settings(max_examples=40, deadline=None)
@given(st.lists(st.integers(0, 4), min_size=3, max_size=30), st.integers(0, 2**16))
def test_spearman_matches_scipy_with_ties(values: list[int], seed: int) -> None:
    a = torch.tensor(values, dtype=torch.float32)
    b = a[torch.randperm(len(a), generator=torch.Generator().manual_seed(seed))] + 0.5 * a
    ours = float(EF.spearman(a[None], b[None])[0])
    ref = spearmanr(a.numpy(), b.numpy()).statistic
    assert ours == pytest.approx(0.0 if np.isnan(ref) else ref, abs=1e-5)


@settings(max_examples=60, deadline=None)
@given(st.tuples(*[st.floats(0, 1, allow_nan=False)] * 3))
def test_rgb_to_hsv_matches_colorsys(rgb: tuple[float, float, float]) -> None:
    ours = EF.rgb_to_hsv(torch.tensor(rgb, dtype=torch.float64).reshape(1, 3, 1, 1)).flatten()
    ref = colorsys.rgb_to_hsv(*rgb)
    assert float(ours[1]) == pytest.approx(ref[1], abs=1e-9)
    assert float(ours[2]) == pytest.approx(ref[2], abs=1e-9)
    hue_gap = abs(float(ours[0]) - ref[0])
    assert min(hue_gap, 1 - hue_gap) < 1e-9


def test_ssim_matches_torchmetrics() -> None:
    from torchmetrics.functional.image import structural_similarity_index_measure as tm_ssim

    gen = torch.Generator().manual_seed(0)
    a = torch.rand(3, 28, 28, generator=gen)
    b = (a + 0.3 * torch.rand(3, 28, 28, generator=gen)).clamp(0, 1)
    ours = EF.ssim(a, b)
    ref = torch.stack([tm_ssim(a[i][None, None], b[i][None, None], data_range=1.0)
                       for i in range(3)])
    torch.testing.assert_close(ours, ref.float(), rtol=1e-4, atol=1e-5)
    assert torch.allclose(EF.ssim(a, a), torch.ones(3))


def test_border_mask_and_share() -> None:
    mask = EF.border_mask(32, 32)
    assert int(mask.sum()) == 32 * 32 - 24 * 24  # band 32 // 8 = 4
    assert EF.default_band(28, 28) == 3
    maps = torch.zeros(2, 1, 32, 32)
    maps[0, 0, 0, 0] = -2.0  # all mass on the border
    maps[1, 0, 16, 16] = 1.0
    maps[1, 0, 0, 5] = 1.0
    assert EF.border_share(maps, mask).tolist() == [1.0, 0.5]
    assert torch.isnan(EF.border_share(torch.zeros(1, 1, 32, 32), mask)).all()


def test_display_normalisation_is_separate_from_raw_maps(mnist_clf: Classifier,
                                                          batch: tuple) -> None:
    e = explain.create("saliency")(mnist_clf, *batch)
    shown = EF.normalize_for_display(e.maps, signed=True)
    assert shown.abs().max() <= 1 and e.maps.abs().max() != pytest.approx(1.0)
    assert torch.equal(torch.sign(shown), torch.sign(e.maps))


# --- clean vs adversarial, root cause, figures --------------------------------------------

def test_clean_vs_adversarial(mnist_clf: Classifier, mnist_test: tuple, tmp_path: Path) -> None:
    x, y = mnist_test[0][:8], mnist_test[1][:8]
    result = attacks.create("pgd", eps=0.3, steps=20)(mnist_clf, x, y)
    assert result.success.float().mean() > 0.5
    cmp = explain.compare_clean_adversarial(mnist_clf, x, y, result.x_adv)
    assert cmp.labels.tolist() == y.tolist()
    assert cmp.adv_class.tolist() == result.logits.argmax(1).tolist()
    torch.testing.assert_close(cmp.clean["saliency"].maps,
                               explain.create("saliency")(mnist_clf, x, y).maps)
    for sim in cmp.similarity.values():
        assert sim["ssim"].shape == (8,) and (sim["ssim"] <= 1 + 1e-6).all()
    json.dumps(cmp.to_dict(mnist_clf.class_names))
    path = cmp.figure(tmp_path / "compare.png", class_names=mnist_clf.class_names)
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_confused_pairs() -> None:
    y = torch.tensor([0, 0, 0, 1, 1, 2, 2])
    pred = torch.tensor([1, 1, 0, 0, 1, 0, 1])
    assert explain.confused_pairs(y, pred, top=2) == [(0, 1, 2), (1, 0, 1)]
    assert explain.confused_pairs(y, pred, min_count=2) == [(0, 1, 2)]


@pytest.fixture(scope="module")
def cifar_birds(data_dir: Path) -> tuple[torch.Tensor, torch.Tensor]:
    from brittle import data

    ds = data.load("cifar10", "test", data_dir=data_dir)
    bird = ds.class_names.index("bird")
    x, y = ds.tensors()
    keep = torch.nonzero(y == bird).flatten()[:400]
    return x[keep], y[keep]


class BlueBorderIsAirplane(nn.Module):
    """A hand-built rule: "airplane" when the 4-pixel border is bluer than red, else "bird"
    (both logits read only the border)."""

    def __init__(self) -> None:
        super().__init__()
        self.register_buffer("mask", EF.border_mask(32, 32, 4).float())
        self.scale = nn.Parameter(torch.tensor(20.0))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        blue = ((x[:, 2] - x[:, 0]) * self.mask).sum((1, 2)) / self.mask.sum()
        others = torch.full((len(x), 1), -10.0, device=x.device)
        airplane = self.scale * (blue - 0.05)
        bird = -airplane
        return torch.cat([airplane[:, None], others, bird[:, None], others.expand(-1, 7)], 1)


def test_root_cause_finds_the_blue_background(cifar_birds: tuple, tmp_path: Path) -> None:
    names = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship",
             "truck")
    clf = Classifier(BlueBorderIsAirplane(), input_shape=(3, 32, 32), num_classes=10,
                     class_names=names).eval()
    x, y = cifar_birds
    d = explain.diagnose_pair(clf, x, y, true_class=2, predicted_class=0, methods=("saliency",))
    assert d.n_errors >= 20 and d.n_correct >= 20
    result = d.to_dict()
    json.dumps(result)
    # the rule reads only the border, so all saliency of both groups lies there
    share = result["border_share"]["saliency"]
    assert share["errors"]["mean"] == pytest.approx(1.0)
    assert share["correct"]["mean"] == pytest.approx(1.0)
    hue = result["background"]["hue"]
    assert 180 < hue["errors"]["median"] < 260 and hue["correct"]["median"] < 120  # blue
    assert hue["test"]["p_value"] < 1e-6 and hue["test"]["effect_size"] > 0.5
    assert set(result["background"]) == {"hue", "saturation", "value"}
    assert result["border_area_share"] == pytest.approx(1 - (24 / 32) ** 2)
    assert d.figure(tmp_path / "rootcause.png").stat().st_size > 1000


def test_root_cause_on_trained_lenet(mnist_clf: Classifier, mnist_test: tuple,
                                     tmp_path: Path) -> None:
    x, y = mnist_test
    pred = mnist_clf.predict_logits(x).argmax(1)
    (a, b, count), *_ = explain.confused_pairs(y, pred)
    d = explain.diagnose_pair(mnist_clf, x, y, true_class=a, predicted_class=b, predictions=pred)
    result = d.to_dict()
    json.dumps(result)
    assert result["n_errors"] == count and sorted(result["background"]) == ["intensity"]
    for method in ("saliency", "gradcam"):
        stats = result["border_share"][method]
        assert 0 <= stats["correct"]["mean"] <= 1
        assert d.mean_maps[method]["correct"].sum() == pytest.approx(1.0, abs=1e-4)
    with pytest.raises(BrittleError, match="two different classes"):
        explain.diagnose_pair(mnist_clf, x, y, true_class=a, predicted_class=a)


@pytest.mark.parametrize("name", ["saliency", "gradcam"])
def test_explanation_grid_is_a_png(name: str, mnist_clf: Classifier, batch: tuple,
                                   tmp_path: Path) -> None:
    from brittle.explain.figures import explanation_grid

    e = explain.create(name)(mnist_clf, *batch)
    path = explanation_grid(batch[0], e, tmp_path / "grid.png", class_names=mnist_clf.class_names)
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
