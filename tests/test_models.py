"""The model zoo and the classifier factory: shapes, parameter counts, determinism."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from brittle.errors import ModelError
from brittle.models import MODELS, Classifier, build_classifier, create, names
from brittle.models.resnet_cifar import PadShortcut

# every zoo entry must build for at least one of these image shapes
CANDIDATE_SHAPES = [(1, 28, 28), (3, 32, 32)]


def n_params(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def build_any(name: str, num_classes: int = 7) -> Classifier:
    errors = []
    for shape in CANDIDATE_SHAPES:
        try:
            return build_classifier(name, input_shape=shape, num_classes=num_classes)
        except ModelError as exc:
            errors.append(str(exc))
    raise AssertionError(f"{name} builds for none of {CANDIDATE_SHAPES}: {errors}")


# --- every registered model -------------------------------------------------------------

@pytest.mark.parametrize("name", names())
def test_every_model_builds_and_forwards(name: str) -> None:
    torch.manual_seed(0)
    clf = build_any(name)
    x = torch.rand(3, *clf.input_shape)
    logits = clf(x)
    assert logits.shape == (3, 7)
    assert torch.isfinite(logits).all()
    assert clf.card["arch"] == name
    assert MODELS.describe(name)  # a one-line description for `brittle models`


@pytest.mark.parametrize("name", names())
def test_every_model_builds_with_defaults(name: str) -> None:
    # `brittle models list` counts parameters of create(name) with no keywords
    net = create(name)
    assert sum(p.numel() for p in net.parameters()) > 0


@pytest.mark.parametrize("name", names())
def test_every_model_has_deterministic_init(name: str) -> None:
    torch.manual_seed(123)
    first = build_any(name).state_dict()
    torch.manual_seed(123)
    second = build_any(name).state_dict()
    torch.manual_seed(124)
    other = build_any(name).state_dict()
    assert first.keys() == second.keys()
    assert all(torch.equal(first[k], second[k]) for k in first)
    assert any(not torch.equal(first[k], other[k]) for k in first)


@pytest.mark.parametrize("name", names())
def test_every_model_passes_input_gradients(name: str) -> None:
    clf = build_any(name).eval()
    x = torch.rand(2, *clf.input_shape, requires_grad=True)
    (grad,) = torch.autograd.grad(clf(x).sum(), x)
    assert grad.shape == x.shape and grad.abs().sum() > 0


# --- ResNets (He et al. 2016, Table 6) ------------------------------------------------

@pytest.mark.parametrize(("name", "millions", "exact"), [
    ("resnet20", 0.27, 269_722), ("resnet32", 0.46, 464_154),
    ("resnet44", 0.66, 658_586), ("resnet56", 0.85, 853_018),
])
def test_resnet_parameter_counts_match_the_paper(name: str, millions: float, exact: int) -> None:
    count = n_params(create(name, in_channels=3, num_classes=10))
    assert round(count / 1e6, 2) == millions
    assert count == exact


def test_resnet20_projection_shortcuts_add_2752_parameters() -> None:
    assert n_params(create("resnet20", shortcut="B")) == 272_474


@pytest.mark.parametrize(("name", "depth"), [("resnet20", 20), ("resnet56", 56)])
def test_resnet_has_6n_plus_2_weighted_layers(name: str, depth: int) -> None:
    net = create(name)
    layers = [m for m in net.modules() if isinstance(m, nn.Conv2d | nn.Linear)]
    assert len(layers) == depth  # option A: no 1x1 projection convs
    assert any(isinstance(m, PadShortcut) for m in net.modules())


def test_option_a_shortcut_subsamples_and_zero_pads() -> None:
    x = torch.rand(2, 16, 8, 8)
    out = PadShortcut(16, 32, stride=2)(x)
    assert out.shape == (2, 32, 4, 4)
    assert torch.equal(out[:, 8:24], x[:, :, ::2, ::2])
    assert out[:, :8].abs().sum() == 0 and out[:, 24:].abs().sum() == 0


def test_resnet_accepts_grayscale_and_other_class_counts() -> None:
    net = create("resnet20", in_channels=1, num_classes=3)
    assert net(torch.rand(2, 1, 28, 28)).shape == (2, 3)


def test_resnet_refuses_bad_depth_and_shortcut() -> None:
    from brittle.models.resnet_cifar import CifarResNet

    with pytest.raises(ModelError, match="6n"):
        CifarResNet(depth=21)
    with pytest.raises(ModelError, match="shortcut"):
        create("resnet20", shortcut="C")


# --- LeNet-5 -----------------------------------------------------------------------------

def test_lenet5_on_mnist_and_cifar_shapes() -> None:
    gray = create("lenet5")
    assert gray(torch.rand(4, 1, 28, 28)).shape == (4, 10)
    colour = create("lenet5", in_channels=3, input_size=32)
    assert colour(torch.rand(4, 3, 32, 32)).shape == (4, 10)
    # the padding keeps the C1 maps at 28x28 for both input sizes
    for net, x in ((gray, torch.rand(1, 1, 28, 28)), (colour, torch.rand(1, 3, 32, 32))):
        assert net.conv1(x).shape == (1, 6, 28, 28)


def test_lenet5_parameter_count() -> None:
    assert n_params(create("lenet5")) == 61_706


def test_lenet5_large_is_four_times_wider() -> None:
    small, large = create("lenet5"), create("lenet5-large")
    assert (large.conv1.out_channels, large.conv2.out_channels) == (24, 64)
    assert (large.fc1.out_features, large.fc2.out_features) == (480, 336)
    # 4x every width gives about 16x the weights (fully connected layers dominate)
    assert 14 < n_params(large) / n_params(small) < 18
    assert large(torch.rand(2, 1, 28, 28)).shape == (2, 10)


def test_lenet5_refuses_other_sizes() -> None:
    with pytest.raises(ModelError, match="28x28 or 32x32"):
        create("lenet5", input_size=64)


# --- MLP ---------------------------------------------------------------------------------

def test_mlp_shapes_and_parameters() -> None:
    net = create("mlp", input_shape=(1, 28, 28), hidden=(32, 16), num_classes=10)
    assert net(torch.rand(5, 1, 28, 28)).shape == (5, 10)
    assert n_params(net) == (784 * 32 + 32) + (32 * 16 + 16) + (16 * 10 + 10)
    flat = create("mlp", in_features=12, hidden=[8])
    assert flat(torch.rand(3, 12)).shape == (3, 10)
    assert create("mlp")(torch.rand(2, 1, 28, 28)).shape == (2, 10)  # MNIST-shaped default


def test_mlp_without_hidden_layers_is_logistic_regression() -> None:
    net = create("mlp", in_features=4, hidden=(), num_classes=3)
    assert [type(m) for m in net] == [nn.Flatten, nn.Linear]


@pytest.mark.parametrize("kwargs", [{"in_features": 4, "input_shape": (1, 2, 2)},
                                    {"in_features": 4, "hidden": (0,)},
                                    {"in_features": 4, "num_classes": 0}])
def test_mlp_refuses_bad_arguments(kwargs: dict[str, object]) -> None:
    with pytest.raises(ModelError):
        create("mlp", **kwargs)


# --- create / build_classifier --------------------------------------------------------

def test_create_refuses_unknown_names_and_keywords() -> None:
    with pytest.raises(ModelError, match="unknown model 'vgg'; known: lenet5"):
        create("vgg")
    with pytest.raises(ModelError, match="lenet5"):
        create("lenet5", depth=3)


def test_build_classifier_maps_the_input_shape_and_records_kwargs() -> None:
    clf = build_classifier("lenet5", input_shape=(3, 32, 32), num_classes=4,
                           class_names=["a", "b", "c", "d"], mean=(0.5, 0.5, 0.5),
                           std=(0.25, 0.25, 0.25))
    assert clf.card == {"arch": "lenet5",
                        "arch_kwargs": {"num_classes": 4, "in_channels": 3, "input_size": 32}}
    assert clf.input_shape == (3, 32, 32) and clf.num_classes == 4
    assert clf.class_names == ("a", "b", "c", "d") and clf.normalize
    assert clf.training  # a fresh model, ready to train


def test_build_classifier_mlp_gets_input_shape_as_json() -> None:
    clf = build_classifier("mlp", input_shape=(1, 8, 8), num_classes=3, hidden=(16,))
    assert clf.card["arch_kwargs"] == {"num_classes": 3, "input_shape": [1, 8, 8],
                                       "hidden": [16]}
    assert create("mlp", **clf.card["arch_kwargs"])(torch.rand(2, 1, 8, 8)).shape == (2, 3)


@pytest.mark.parametrize(("arch", "shape", "kwargs", "message"), [
    ("lenet5", (1, 64, 64), {}, "28x28 or 32x32"),
    ("lenet5", (1, 28, 32), {}, "square"),
    ("resnet20", (3, 32, 32), {"in_channels": 1}, "contradicts"),
    ("lenet5", (1, 28), {}, r"\(C, H, W\)"),
    ("mlp", (1, 8, 8), {"in_features": 64}, "exactly one"),
    ("nope", (1, 28, 28), {}, "unknown model"),
])
def test_build_classifier_refuses_what_the_arch_cannot_take(
        arch: str, shape: tuple[int, ...], kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(ModelError, match=message) as info:
        build_classifier(arch, input_shape=shape, num_classes=10, **kwargs)
    assert "\n" not in str(info.value)


def test_build_classifier_probe_leaves_train_mode_and_rng_alone() -> None:
    torch.manual_seed(5)
    clf = build_classifier("resnet20", input_shape=(3, 32, 32), num_classes=10)
    after_build = torch.rand(3)
    torch.manual_seed(5)
    create("resnet20", in_channels=3, num_classes=10)
    assert torch.equal(torch.rand(3), after_build)  # the probe draws no random numbers
    assert all(m.training for m in clf.modules())
    assert int(clf.model.bn1.num_batches_tracked) == 0  # eval-mode probe: stats untouched
