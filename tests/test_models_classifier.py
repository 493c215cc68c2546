"""The Classifier wrapper on zoo and user models, and ensembles of classifiers."""

from __future__ import annotations

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

from brittle.errors import ModelError
from brittle.models import Classifier, Ensemble, as_classifier, build_classifier


def lenet(seed: int = 0, **kwargs: object) -> Classifier:
    torch.manual_seed(seed)
    return build_classifier("lenet5", input_shape=(1, 28, 28), num_classes=10, **kwargs)


# --- Classifier ------------------------------------------------------------------------

@settings(max_examples=20, deadline=None)
@given(mean=st.floats(0.0, 1.0), std=st.floats(0.05, 2.0), seed=st.integers(0, 2**16))
def test_normalization_matches_manual(mean: float, std: float, seed: int) -> None:
    torch.manual_seed(seed)
    net = nn.Sequential(nn.Flatten(), nn.Linear(12, 3))
    clf = Classifier(net, input_shape=(3, 2, 2), mean=(mean, mean / 2, 0.1),
                     std=(std, 1.0, 0.5))
    x = torch.rand(4, 3, 2, 2)
    m = torch.tensor([mean, mean / 2, 0.1]).view(1, 3, 1, 1)
    s = torch.tensor([std, 1.0, 0.5]).view(1, 3, 1, 1)
    torch.testing.assert_close(clf(x), net((x - m) / s))


def test_inputs_are_not_mutated() -> None:
    clf = lenet(mean=(0.1307,), std=(0.3081,))
    x = torch.rand(3, 1, 28, 28)
    before = x.clone()
    clf(x)
    clf.predict_logits(x)
    clf.features(x, ["penultimate", "last_conv"])
    assert torch.equal(x, before)


def test_evaluating_restores_mixed_modes() -> None:
    clf = build_classifier("resnet20", input_shape=(3, 32, 32), num_classes=10)
    clf.train()
    clf.model.layer1.eval()
    clf.model.fc.eval()
    modes = {name: m.training for name, m in clf.named_modules()}
    assert not all(modes.values()) and any(modes.values())
    with clf.evaluating():
        assert not any(m.training for m in clf.modules())
    assert {name: m.training for name, m in clf.named_modules()} == modes


def test_predict_logits_in_batches_equals_one_shot() -> None:
    clf = build_classifier("resnet20", input_shape=(3, 32, 32), num_classes=10)
    x = torch.rand(7, 3, 32, 32)
    with clf.evaluating(), torch.no_grad():
        expected = clf(x)
    torch.testing.assert_close(clf.predict_logits(x, batch_size=3), expected)
    assert clf.training  # the user's mode is back


@pytest.mark.parametrize(("arch", "shape", "penultimate", "last_conv"), [
    ("lenet5", (1, 28, 28), (2, 84), (2, 16, 10, 10)),
    ("lenet5", (3, 32, 32), (2, 84), (2, 16, 10, 10)),
    ("resnet20", (3, 32, 32), (2, 64), (2, 64, 8, 8)),
])
def test_feature_aliases(arch: str, shape: tuple[int, int, int],
                         penultimate: tuple[int, ...], last_conv: tuple[int, ...]) -> None:
    clf = build_classifier(arch, input_shape=shape, num_classes=10)
    feats = clf.features(torch.rand(2, *shape), ["penultimate", "last_conv"])
    assert feats["penultimate"].shape == penultimate
    assert feats["last_conv"].shape == last_conv
    assert feats["logits"].shape == (2, 10)


def test_named_feature_layers_and_unknown_layers() -> None:
    clf = lenet()
    feats = clf.features(torch.rand(2, 1, 28, 28), ["pool1", "fc1:input"])
    assert feats["pool1"].shape == (2, 6, 14, 14) and feats["fc1:input"].shape == (2, 400)
    with pytest.raises(ModelError, match="no layer 'nope'"):
        clf.features(torch.rand(2, 1, 28, 28), ["nope"])
    assert not clf.model.conv1._forward_hooks  # hooks removed even after an error


@pytest.mark.parametrize("x", [torch.rand(2, 1, 32, 32), torch.rand(1, 28, 28),
                               torch.zeros(2, 1, 28, 28, dtype=torch.uint8)])
def test_check_input_rejects_wrong_inputs(x: torch.Tensor) -> None:
    with pytest.raises(ModelError) as info:
        lenet().check_input(x)
    assert "\n" not in str(info.value)


def test_a_users_own_module_wraps() -> None:
    class TinyNet(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.body = nn.Conv2d(3, 4, 3)
            self.head = nn.Linear(4, 5)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.head(self.body(x).mean(dim=(2, 3)))

    clf = as_classifier(TinyNet(), input_shape=(3, 8, 8), class_names=list("abcde"))
    assert clf.num_classes == 5  # inferred by one forward pass
    assert clf(torch.rand(2, 3, 8, 8)).shape == (2, 5)
    feats = clf.features(torch.rand(2, 3, 8, 8), ["penultimate", "last_conv"])
    assert feats["penultimate"].shape == (2, 4) and feats["last_conv"].shape == (2, 4, 6, 6)
    assert as_classifier(clf) is clf
    with pytest.raises(ModelError, match="input_shape"):
        as_classifier(TinyNet())
    with pytest.raises(ModelError, match="does not accept"):
        as_classifier(TinyNet(), input_shape=(1, 8, 8))


def first_conv_input(clf: Classifier, x: torch.Tensor) -> torch.Tensor:
    conv = next(m for m in clf.model.modules() if isinstance(m, nn.Conv2d))
    seen: list[torch.Tensor] = []
    handle = conv.register_forward_hook(lambda module, inputs, output: seen.append(inputs[0]))
    try:
        clf(x)
    finally:
        handle.remove()
    return seen[0]


@pytest.mark.parametrize(("arch", "shape"), [("lenet5", (1, 28, 28)), ("resnet20", (3, 32, 32))])
def test_convolutions_get_channels_last_input_with_the_same_results(
        arch: str, shape: tuple[int, int, int]) -> None:
    torch.manual_seed(0)
    clf = build_classifier(arch, input_shape=shape, num_classes=10, mean=(0.5,) * shape[0],
                           std=(0.25,) * shape[0]).eval()
    twin = clf.twin(channels_last=False)
    assert clf.channels_last and not twin.channels_last
    x = torch.rand(4, *shape)
    # one channel fits both layouts, so only the stride of the channel axis tells them apart
    assert first_conv_input(clf, x).stride(1) == 1
    assert first_conv_input(twin, x).stride(1) == shape[1] * shape[2]
    grads = []
    for model in (clf, twin):
        xr = x.clone().requires_grad_(True)
        logits = model(xr)
        (grad,) = torch.autograd.grad(logits.logsumexp(1).sum(), xr)
        grads.append((logits.detach(), grad))
    torch.testing.assert_close(grads[0][0], grads[1][0], rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(grads[0][1], grads[1][1], rtol=1e-3, atol=1e-6)


def test_networks_that_need_the_default_layout_keep_it() -> None:
    class ViewsAfterConv(nn.Module):  # the classic x.view(len(x), -1) flatten
        def __init__(self) -> None:
            super().__init__()
            self.conv = nn.Conv2d(3, 4, 3)
            self.head = nn.Linear(4 * 6 * 6, 5)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.head(self.conv(x).view(len(x), -1))

    clf = as_classifier(ViewsAfterConv(), input_shape=(3, 8, 8))
    assert not clf.channels_last
    assert clf(torch.rand(2, 3, 8, 8)).shape == (2, 5)
    mlp = Classifier(nn.Sequential(nn.Flatten(), nn.Linear(12, 3)), input_shape=(3, 2, 2))
    assert not mlp.channels_last  # no convolution to speed up
    forced = lenet().twin(channels_last=False)
    assert not forced.channels_last
    assert first_conv_input(forced, torch.rand(2, 1, 28, 28)).stride(1) == 28 * 28


# --- Ensemble --------------------------------------------------------------------------

def members(count: int = 3) -> list[Classifier]:
    return [lenet(seed, mean=(0.1307,), std=(0.3081,)).eval() for seed in range(count)]


def test_ensemble_probs_is_log_of_mean_softmax() -> None:
    nets = members()
    x = torch.rand(4, 1, 28, 28)
    mean_probs = torch.stack([torch.softmax(m(x), dim=1) for m in nets]).mean(dim=0)
    out = Ensemble(nets, combine="probs")(x)
    torch.testing.assert_close(out, mean_probs.log())
    torch.testing.assert_close(torch.softmax(out, dim=1), mean_probs)


def test_ensemble_logits_is_mean_of_logits() -> None:
    nets = members()
    x = torch.rand(4, 1, 28, 28)
    expected = torch.stack([m(x) for m in nets]).mean(dim=0)
    torch.testing.assert_close(Ensemble(nets, combine="logits")(x), expected)


def test_ensemble_probs_survives_extreme_logits() -> None:
    big = nn.Sequential(nn.Flatten(), nn.Linear(4, 2))
    with torch.no_grad():
        big[1].weight.fill_(0.0)
        big[1].bias.copy_(torch.tensor([500.0, -500.0]))
    clf = Classifier(big, input_shape=(1, 2, 2))
    out = Ensemble([clf, clf], combine="probs")(torch.rand(1, 1, 2, 2))
    assert torch.isfinite(out).all()  # log(mean(p)) of p = 1e-217 would be -inf


def test_ensemble_requires_combine() -> None:
    with pytest.raises(TypeError):
        Ensemble(members(2))  # type: ignore[call-arg]
    with pytest.raises(ModelError, match="combine"):
        Ensemble(members(2), combine="vote")  # type: ignore[arg-type]


@pytest.mark.parametrize("odd", [
    lambda: build_classifier("lenet5", input_shape=(3, 32, 32), num_classes=10),
    lambda: build_classifier("lenet5", input_shape=(1, 28, 28), num_classes=5),
    lambda: build_classifier("lenet5", input_shape=(1, 28, 28), num_classes=10,
                             bounds=(0.0, 255.0)),
    lambda: build_classifier("lenet5", input_shape=(1, 28, 28), num_classes=10,
                             class_names=list("abcdefghij")),
])
def test_ensemble_refuses_mismatched_members(odd: object) -> None:
    with pytest.raises(ModelError, match="member 1") as info:
        Ensemble([lenet(), odd()], combine="logits")  # type: ignore[operator]
    assert "\n" not in str(info.value)


def test_ensemble_refuses_bare_modules_and_empty() -> None:
    with pytest.raises(ModelError, match="as_classifier"):
        Ensemble([lenet(), nn.Linear(2, 2)], combine="probs")  # type: ignore[list-item]
    with pytest.raises(ModelError, match="at least one"):
        Ensemble([], combine="probs")


def test_ensemble_as_classifier_plugs_in() -> None:
    nets = members(2)
    for net in nets:
        net.train()
    clf = Ensemble(nets, combine="probs").as_classifier()
    assert not clf.normalize  # members normalize themselves
    assert (clf.input_shape, clf.num_classes, clf.bounds) == ((1, 28, 28), 10, (0.0, 1.0))
    x = torch.rand(3, 1, 28, 28)
    with torch.no_grad():
        expected = torch.stack([torch.softmax(n.eval()(x), 1) for n in nets]).mean(0).log()
    for net in nets:
        net.train()
    torch.testing.assert_close(clf.predict_logits(x), expected)
    assert all(net.training for net in nets)  # modes restored after evaluation
    assert clf.card["ensemble"]["combine"] == "probs"
    assert len(clf.card["ensemble"]["members"]) == 2
