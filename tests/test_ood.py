"""OOD detectors on real data (a tiny LeNet trained on MNIST; Fashion-MNIST and noise as OOD),
reference cross-checks, feature extraction, conversion, synthetic sets and bad input."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from sklearn.covariance import EmpiricalCovariance
from sklearn.neighbors import NearestNeighbors

from attack_fixtures import make_classifier, mnist
from brittle import data, ood
from brittle.errors import BrittleError, DataError
from brittle.models import Classifier
from brittle.ood import Features

LAYERS = ("last_conv", "penultimate")
N_TRAIN, N_TEST = 4000, 1000
# Measured on this setup (tiny LeNet, 4000 training images): msp 0.81, mahalanobis 0.76,
# the others 0.88-0.92. The floors sit a few points below.
MIN_AUROC_FASHION = {"msp": 0.75, "mahalanobis": 0.70}
DEFAULT_MIN_AUROC = 0.83


@pytest.fixture(scope="module")
def clf() -> Classifier:
    return make_classifier()


@pytest.fixture(scope="module")
def sets(clf: Classifier, data_dir: Path) -> dict[str, tuple[torch.Tensor, Features]]:
    """Images and features: MNIST train (fit), MNIST test (ID), Fashion-MNIST test and noise."""
    x_fashion, _ = data.load("fashion-mnist", "test", data_dir=data_dir).tensors()
    images = {"train": mnist("train", N_TRAIN)[0], "mnist": mnist("t10k", N_TEST)[0],
              "fashion": x_fashion[:N_TEST],
              "uniform": ood.synthetic("uniform", 500, (1, 28, 28), seed=0)}
    return {k: (x, ood.extract_features(clf, x, LAYERS)) for k, x in images.items()}


@pytest.fixture(scope="module")
def scores(clf: Classifier, sets: dict[str, tuple[torch.Tensor, Features]],
           ) -> dict[str, dict[str, torch.Tensor]]:
    """Every registered detector fitted on MNIST train, scoring every set."""
    y_train = mnist("train", N_TRAIN)[1]
    out = {}
    for name in ood.names():
        det = ood.create(name).fit(sets["train"][1], y_train, seed=0)
        out[name] = {k: det.score(f, classifier=clf, x=x) for k, (x, f) in sets.items()
                     if k != "train"}
    return out


@pytest.mark.parametrize("name", ood.names())
def test_detector_separates_mnist_from_fashion_mnist(name: str, scores: dict) -> None:
    s = scores[name]
    for key, n in (("mnist", N_TEST), ("fashion", N_TEST), ("uniform", 500)):
        assert s[key].shape == (n,) and s[key].dtype == torch.float64
        assert torch.isfinite(s[key]).all()
    assert ood.auroc(s["mnist"], s["fashion"]) > MIN_AUROC_FASHION.get(name, DEFAULT_MIN_AUROC)


@pytest.mark.parametrize("name", ood.names())
def test_higher_means_more_ood_on_uniform_noise(name: str, scores: dict) -> None:
    # the median, not the mean: a few very uncertain MNIST digits dominate the mean of MSP
    s = scores[name]
    assert s["uniform"].median() > s["mnist"].median()
    assert ood.auroc(s["mnist"], s["uniform"]) > 0.65


@pytest.mark.parametrize("name", ood.names())
def test_detector_is_deterministic_and_batch_independent(
        name: str, clf: Classifier, sets: dict, scores: dict) -> None:
    x, feats = sets["mnist"]
    x, feats = x[:300], {k: v[:300] for k, v in feats.items()}
    det = ood.create(name).fit(sets["train"][1], mnist("train", N_TRAIN)[1], seed=0)
    chunks = [det.score({k: v[i:i + 37] for k, v in feats.items()}, classifier=clf,
                        x=x[i:i + 37]) for i in range(0, 300, 37)]
    torch.testing.assert_close(torch.cat(chunks), scores[name]["mnist"][:300],
                               rtol=1e-6, atol=1e-9)


def test_extract_features_flattens_and_pools_in_eval_mode(clf: Classifier, sets: dict) -> None:
    x = sets["mnist"][0][:50]
    clf.train()
    try:
        feats = ood.extract_features(clf, x, ["last_conv", "penultimate", "logits"],
                                     batch_size=7)
        assert clf.training  # the user's mode is restored
    finally:
        clf.eval()
    with torch.no_grad():
        raw = clf.features(x, ["last_conv", "penultimate"])
    assert set(feats) == {"logits", "last_conv", "penultimate"}
    assert all(v.dtype == torch.float32 and not v.requires_grad for v in feats.values())
    torch.testing.assert_close(feats["last_conv"], raw["last_conv"].mean(dim=(2, 3)))
    torch.testing.assert_close(feats["penultimate"], raw["penultimate"])
    torch.testing.assert_close(feats["logits"], sets["mnist"][1]["logits"][:50])
    empty = ood.extract_features(clf, x[:0], LAYERS)
    assert {k: tuple(v.shape) for k, v in empty.items()} == {
        "logits": (0, 10), "last_conv": (0, 16), "penultimate": (0, 64)}


def test_available_layers(clf: Classifier) -> None:
    assert ood.available_layers(clf) == ("last_conv", "penultimate")


def test_mahalanobis_matches_sklearn_empirical_covariance(sets: dict) -> None:
    f_train = sets["train"][1]["penultimate"].double().numpy()
    y = mnist("train", N_TRAIN)[1].numpy()
    means = np.stack([f_train[y == c].mean(axis=0) for c in range(10)])
    cov = EmpiricalCovariance(assume_centered=True).fit(f_train - means[y])
    f_test = sets["fashion"][1]["penultimate"].double().numpy()[:200]
    expected = np.min([cov.mahalanobis(f_test - m) for m in means], axis=0)
    det = ood.create("mahalanobis").fit(sets["train"][1], torch.from_numpy(y))
    got = det.score({k: v[:200] for k, v in sets["fashion"][1].items()}).numpy()
    np.testing.assert_allclose(got, expected, rtol=1e-6)


def test_mahalanobis_input_preprocessing_moves_towards_the_training_data(
        clf: Classifier, sets: dict) -> None:
    x, feats = sets["mnist"][0][:100], {k: v[:100] for k, v in sets["mnist"][1].items()}
    y_train = mnist("train", N_TRAIN)[1]
    plain = ood.create("mahalanobis").fit(sets["train"][1], y_train).score(feats)
    det = ood.create("mahalanobis", eps=0.005).fit(sets["train"][1], y_train)
    assert det.needs_input
    stepped = det.score(feats, classifier=clf, x=x)
    assert (stepped < plain).float().mean() > 0.9


def test_knn_matches_sklearn_nearest_neighbors(sets: dict) -> None:
    def unit(t: torch.Tensor) -> np.ndarray:
        a = t.double().numpy()
        return a / np.linalg.norm(a, axis=1, keepdims=True)

    nn_index = NearestNeighbors(n_neighbors=50).fit(unit(sets["train"][1]["penultimate"]))
    dist, _ = nn_index.kneighbors(unit(sets["fashion"][1]["penultimate"][:300]))
    det = ood.create("knn").fit(sets["train"][1], mnist("train", N_TRAIN)[1])
    got = det.score({k: v[:300] for k, v in sets["fashion"][1].items()}).numpy()
    np.testing.assert_allclose(got, dist[:, -1], atol=1e-4)


@pytest.mark.parametrize("metric", ["cosine", "euclidean"])
def test_deep_knn_matches_a_brute_force_reference(sets: dict, metric: str) -> None:
    y = mnist("train", N_TRAIN)[1]
    layers, k = ["last_conv", "penultimate", "logits"], 20
    det = ood.create("deep_knn", layers=layers, k=k, calibration=0.2, metric=metric)
    det.fit(sets["train"][1], y, seed=3)
    order = torch.randperm(N_TRAIN, generator=torch.Generator().manual_seed(3)).numpy()
    cal, ref = order[:800], order[800:]
    y_np = y.numpy()

    def prepared(layer: str, rows: np.ndarray, source: Features) -> np.ndarray:
        a = source[layer].double().numpy()[rows]
        return a / np.linalg.norm(a, axis=1, keepdims=True) if metric == "cosine" else a

    def alphas(source: Features, rows: np.ndarray) -> np.ndarray:
        total = np.zeros((len(rows), 10))
        for layer in layers:
            index = NearestNeighbors(n_neighbors=k).fit(prepared(layer, ref, sets["train"][1]))
            _, idx = index.kneighbors(prepared(layer, rows, source))
            total += np.stack([(y_np[ref][idx] != j).sum(axis=1) for j in range(10)], axis=1)
        return total

    a_cal = alphas(sets["train"][1], cal)[np.arange(len(cal)), y_np[cal]]
    test = np.arange(200)
    p = (a_cal[None, None, :] >= alphas(sets["fashion"][1], test)[:, :, None]).mean(axis=2)
    got = det.score({k: v[:200] for k, v in sets["fashion"][1].items()}).numpy()
    np.testing.assert_allclose(got, 1 - p.max(axis=1), atol=1e-12)
    assert got.min() >= 0 and got.max() <= 1


def test_vim_matches_a_direct_computation_with_the_layer_weights(
        clf: Classifier, sets: dict) -> None:
    # Units that never fire on the training data leave their weights unidentifiable from
    # features and logits; ViM's least-squares head sets them to zero. On the live units the
    # result must equal the paper's formula with the classifier's own last layer.
    head = clf.model[-1]
    train, test = sets["train"][1], sets["fashion"][1]
    live = train["penultimate"].std(dim=0) > 0
    w = head.weight.detach().double().numpy()[:, live.numpy()]
    b = head.bias.detach().double().numpy()
    f_train = train["penultimate"][:, live].double().numpy()
    origin = -np.linalg.pinv(w) @ b
    centred = f_train - origin
    eigvals, eigvecs = np.linalg.eigh(centred.T @ centred / len(centred))
    dim = int(live.sum()) // 2
    residual = eigvecs[:, np.argsort(eigvals)[::-1][dim:]]
    alpha = ((f_train @ w.T + b).max(axis=1).mean()
             / np.linalg.norm(centred @ residual, axis=1).mean())
    f_test, logits = test["penultimate"][:200, live], test["logits"][:200]
    expected = (alpha * np.linalg.norm((f_test.double().numpy() - origin) @ residual, axis=1)
                - torch.logsumexp(logits.double(), dim=1).numpy())
    det = ood.create("vim").fit({"logits": train["logits"], "penultimate":
                                 train["penultimate"][:, live]}, mnist("train", N_TRAIN)[1])
    got = det.score({"logits": logits, "penultimate": f_test}).numpy()
    np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-4)


def test_odin_without_noise_is_temperature_scaled_msp(clf: Classifier, sets: dict) -> None:
    x, feats = sets["mnist"][0][:64], {k: v[:64] for k, v in sets["mnist"][1].items()}
    plain = ood.create("odin", eps=0.0).score(feats, classifier=clf, x=x)
    expected = -(feats["logits"].double() / 1000).softmax(dim=1).amax(dim=1)
    torch.testing.assert_close(plain, expected, rtol=1e-5, atol=1e-9)


def test_odin_takes_input_gradients_only(clf: Classifier, sets: dict) -> None:
    x, feats = sets["mnist"][0][:64], {k: v[:64] for k, v in sets["mnist"][1].items()}
    before = x.clone()
    params = list(clf.parameters())
    params[0].requires_grad_(True)
    params[1].requires_grad_(False)
    s = ood.create("odin").score(feats, classifier=clf, x=x)
    assert params[0].requires_grad and not params[1].requires_grad  # flags restored
    params[1].requires_grad_(True)
    assert all(p.grad is None for p in params)
    assert torch.equal(x, before)
    plain = ood.create("odin", eps=0.0).score(feats, classifier=clf, x=x)
    assert (s < plain).float().mean() > 0.9  # the step raises the top softmax score


def test_convert_images() -> None:
    rgb = torch.rand(3, 3, 32, 32)
    grey, how = ood.convert_images(rgb, (1, 32, 32))
    assert how == "rgb -> grey"
    torch.testing.assert_close(grey[:, 0], 0.299 * rgb[:, 0] + 0.587 * rgb[:, 1]
                               + 0.114 * rgb[:, 2])
    small, how = ood.convert_images(rgb, (1, 28, 28))
    assert how == "resized 32x32 -> 28x28, rgb -> grey"
    torch.testing.assert_close(small, F.interpolate(grey, size=(28, 28), mode="bilinear",
                                                    antialias=True).clamp(0, 1))
    colour, how = ood.convert_images(grey[:, :, :28, :28], (3, 28, 28))
    assert how == "grey -> rgb" and torch.equal(colour[:, 2], grey[:, 0, :28, :28])
    same, how = ood.convert_images(rgb, (3, 32, 32))
    assert how == "none" and torch.equal(same, rgb)
    assert float(small.min()) >= 0.0 and float(small.max()) <= 1.0


def test_synthetic_sets() -> None:
    for kind in ("uniform", "gaussian", "constant"):
        x = ood.synthetic(kind, 8, (3, 6, 5), seed=1)
        assert x.shape == (8, 3, 6, 5) and x.dtype == torch.float32
        assert float(x.min()) >= 0.0 and float(x.max()) <= 1.0
        assert torch.equal(x, ood.synthetic(kind, 8, (3, 6, 5), seed=1))
        assert not torch.equal(x, ood.synthetic(kind, 8, (3, 6, 5), seed=2))
    flat = ood.synthetic("constant", 8, (3, 6, 5), seed=1)
    assert torch.equal(flat, flat[:, :1, :1, :1].expand_as(flat))
    noise = ood.synthetic("gaussian", 200, (1, 28, 28), seed=0)
    assert float(noise.mean()) == pytest.approx(0.5, abs=0.01)


def test_bad_input_is_refused_in_one_line(clf: Classifier, sets: dict) -> None:
    train = sets["train"][1]
    y = mnist("train", N_TRAIN)[1]
    logits_only = {"logits": train["logits"]}
    cases: list[tuple[type[Exception], str, object]] = [
        (BrittleError, "unknown OOD detector 'nope'", lambda: ood.create("nope")),
        (BrittleError, "needs feature layer 'penultimate'",
         lambda: ood.create("knn").fit(logits_only, y)),
        (BrittleError, "not fitted", lambda: ood.create("vim").score(train)),
        (BrittleError, "labels must", lambda: ood.create("knn").fit(train, y[:10])),
        (BrittleError, "labels must lie", lambda: ood.create("knn").fit(train, y + 5)),
        (BrittleError, "pass classifier= and x=", lambda: ood.create("odin").score(train)),
        (BrittleError, "fitted on 64",
         lambda: ood.create("knn").fit(train, y).score({**train, "penultimate":
                                                        train["penultimate"][:, :10]})),
        (DataError, "cannot convert 4-channel images",
         lambda: ood.convert_images(torch.rand(2, 4, 28, 28), (1, 28, 28))),
        (DataError, "unknown synthetic OOD kind",
         lambda: ood.synthetic("salt", 2, (1, 4, 4), seed=0)),  # type: ignore[arg-type]
        (BrittleError, "does not exist|no layer",
         lambda: ood.extract_features(clf, sets["mnist"][0][:2], ["fc9"])),
    ]
    for kind, match, call in cases:
        with pytest.raises(kind, match=match) as info:
            call()  # type: ignore[operator]
        assert "\n" not in str(info.value)


def test_registry_is_complete_and_described() -> None:
    assert ood.names() == ["deep_knn", "energy", "knn", "mahalanobis", "max_logit", "msp",
                           "odin", "vim"]
    for name in ood.names():
        det = ood.create(name)
        assert det.name == name and ood.DETECTORS.describe(name)
        assert isinstance(det.settings(), dict) and repr(det).startswith(type(det).__name__)
