"""Safe checkpoints: round trips, model cards, refusal of pickles, atomic writes."""

from __future__ import annotations

import json
import os
import pathlib
import pickle
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import torch
from safetensors import safe_open
from safetensors.torch import save_file
from torch import nn

from brittle.errors import ModelError
from brittle.models import (
    Classifier,
    Ensemble,
    ModelCard,
    as_classifier,
    build_classifier,
    load_classifier,
    read_card,
    save_classifier,
)
from brittle.models import checkpoint as checkpoint_module


def trained_like(arch: str, shape: tuple[int, int, int], **kwargs: Any) -> Classifier:
    """A classifier whose weights and batch-norm statistics differ from a fresh init."""
    torch.manual_seed(0)
    clf = build_classifier(arch, input_shape=shape, num_classes=10, **kwargs)
    with torch.no_grad():
        clf(torch.rand(8, *shape))  # train mode: moves the BN running statistics
        for p in clf.parameters():
            p.add_(0.01 * torch.randn_like(p))
    return clf.eval()


def assert_one_line_model_error(call: Callable[[], object], match: str) -> ModelError:
    with pytest.raises(ModelError, match=match) as info:
        call()
    assert "\n" not in str(info.value)
    return info.value


# --- round trips ---------------------------------------------------------------------

@pytest.mark.parametrize(("arch", "shape", "norm"), [
    ("lenet5", (1, 28, 28), {"mean": (0.1307,), "std": (0.3081,)}),
    ("resnet20", (3, 32, 32), {"mean": (0.4914, 0.4822, 0.4465),
                               "std": (0.2470, 0.2435, 0.2616)}),
    ("mlp", (1, 8, 8), {}),
])
def test_round_trip_gives_identical_logits_and_card(
        tmp_path: Path, arch: str, shape: tuple[int, int, int], norm: dict[str, Any]) -> None:
    clf = trained_like(arch, shape, class_names=[f"c{i}" for i in range(10)], **norm)
    path = save_classifier(clf, tmp_path / "model.safetensors", dataset="toy",
                           recipe="standard", recipe_settings={"epochs": 2, "lr": 0.1},
                           seed=7, clean_accuracy=0.5, extra={"note": "hi"})
    assert sorted(os.listdir(tmp_path)) == ["model.safetensors"]  # no .part left behind
    loaded = load_classifier(path)
    x = torch.rand(5, *shape)
    with torch.no_grad():
        assert torch.equal(loaded(x), clf(x))
    assert not loaded.training
    card = read_card(path)
    assert loaded.card == card.to_dict()
    assert (card.arch, card.dataset, card.recipe, card.seed) == (arch, "toy", "standard", 7)
    assert card.recipe_settings == {"epochs": 2, "lr": 0.1}
    assert card.class_names == clf.class_names and card.input_shape == shape
    assert card.mean == norm.get("mean") and card.std == norm.get("std")
    assert (loaded.class_names, loaded.bounds, loaded.normalize) == (
        clf.class_names, clf.bounds, clf.normalize)


def test_saved_file_layout(tmp_path: Path) -> None:
    clf = trained_like("lenet5", (1, 28, 28))
    path = save_classifier(clf, tmp_path / "m.safetensors")
    with safe_open(str(path), framework="pt") as handle:
        meta = handle.metadata()
        keys = set(handle.keys())
    assert meta["format"] == "brittle/1"
    assert json.loads(meta["brittle_card"])["arch"] == "lenet5"
    assert keys == set(clf.model.state_dict())  # the inner model, without mean/std buffers


def test_resaving_a_loaded_classifier_keeps_the_card(tmp_path: Path) -> None:
    first = save_classifier(trained_like("lenet5", (1, 28, 28)), tmp_path / "a.safetensors",
                            dataset="mnist", seed=3)
    loaded = load_classifier(first)
    second = save_classifier(loaded, tmp_path / "b.safetensors", clean_accuracy=0.98)
    card = read_card(second)
    assert (card.dataset, card.seed, card.clean_accuracy) == ("mnist", 3, 0.98)


def test_an_explicit_card_is_stored_as_given(tmp_path: Path) -> None:
    clf = trained_like("lenet5", (1, 28, 28))
    card = ModelCard(arch="lenet5", arch_kwargs=clf.card["arch_kwargs"],
                     input_shape=(1, 28, 28), num_classes=10, created="2020-01-01T00:00:00+00:00")
    assert read_card(save_classifier(clf, tmp_path / "m.safetensors", card=card)) == card


def test_loading_leaves_the_random_stream_alone(tmp_path: Path) -> None:
    path = save_classifier(trained_like("resnet20", (3, 32, 32)), tmp_path / "m.safetensors")
    torch.manual_seed(1)
    expected = torch.rand(4)
    torch.manual_seed(1)
    load_classifier(path)
    assert torch.equal(torch.rand(4), expected)


def test_safetensors_content_is_recognized_under_another_suffix(tmp_path: Path) -> None:
    path = save_classifier(trained_like("lenet5", (1, 28, 28)), tmp_path / "m.safetensors")
    other = tmp_path / "m.bin"
    other.write_bytes(path.read_bytes())
    assert load_classifier(other).card == read_card(path).to_dict()


# --- the model card -------------------------------------------------------------------

def test_card_json_is_lossless() -> None:
    card = ModelCard(arch="mlp", arch_kwargs={"hidden": (4, 2), "input_shape": (1, 2, 2)},
                     dataset="digits", input_shape=[1, 2, 2], num_classes=3,
                     class_names=["a", "b", "c"], mean=[0.5], std=(0.25,), bounds=(0, 1),
                     recipe="pgd-at", recipe_settings={"eps": 0.3, "steps": [1, 2]}, seed=1,
                     clean_accuracy=0.75, extra={"nested": {"x": None}})
    assert card.input_shape == (1, 2, 2) and card.arch_kwargs["hidden"] == [4, 2]
    assert ModelCard.from_json(card.to_json()) == card
    assert ModelCard.from_dict(card.to_dict()) == card


@pytest.mark.parametrize(("fields", "message"), [
    ({"bogus": 1}, "unknown model card field"),
    ({"class_names": ["a"]}, "class names"),
    ({"input_shape": (1, 28)}, "input_shape"),
    ({"clean_accuracy": 1.5}, r"\[0, 1\]"),
    ({"extra": {"f": object()}}, "JSON"),
    ({"arch": ""}, "arch"),
])
def test_card_refuses_bad_fields(fields: dict[str, Any], message: str) -> None:
    base = {"arch": "lenet5", "input_shape": (1, 28, 28), "num_classes": 10}
    assert_one_line_model_error(lambda: ModelCard.from_dict({**base, **fields}), message)


def test_card_refuses_malformed_json() -> None:
    assert_one_line_model_error(lambda: ModelCard.from_json("{oops"), "not valid JSON")
    assert_one_line_model_error(lambda: ModelCard.from_json("[1]"), "JSON object")
    assert_one_line_model_error(lambda: ModelCard.from_json('{"arch": "x"}'), "incomplete")


def test_read_card_needs_no_weights(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = save_classifier(trained_like("lenet5", (1, 28, 28)), tmp_path / "m.safetensors")
    monkeypatch.setattr(checkpoint_module, "create", lambda *a, **k: pytest.fail("built"))
    assert read_card(path).arch == "lenet5"


# --- plain PyTorch state dicts ----------------------------------------------------------

def test_plain_state_dict_loads_with_arch(tmp_path: Path) -> None:
    clf = trained_like("lenet5", (1, 28, 28), mean=(0.1307,), std=(0.3081,))
    path = tmp_path / "weights.pth"
    torch.save(clf.model.state_dict(), path)
    loaded = load_classifier(path, arch="lenet5", input_shape=(1, 28, 28), num_classes=10,
                             mean=(0.1307,), std=(0.3081,), dataset="mnist")
    x = torch.rand(3, 1, 28, 28)
    with torch.no_grad():
        assert torch.equal(loaded(x), clf(x))
    assert loaded.card["arch_kwargs"] == clf.card["arch_kwargs"]
    assert loaded.card["dataset"] == "mnist"
    assert_one_line_model_error(lambda: load_classifier(path), "arch=, input_shape=")


def test_torch_load_is_always_weights_only(tmp_path: Path,
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[Any] = []
    real_load = torch.load

    def spy(*args: Any, **kwargs: Any) -> Any:
        seen.append(kwargs.get("weights_only"))
        return real_load(*args, **kwargs)

    monkeypatch.setattr(torch, "load", spy)
    path = tmp_path / "w.pt"
    torch.save(trained_like("lenet5", (1, 28, 28)).model.state_dict(), path)
    load_classifier(path, arch="lenet5", input_shape=(1, 28, 28), num_classes=10)
    assert seen == [True]


class SystemPayload:
    """Pickles to a call of ``os.system``: unpickling it runs a shell command."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[Any, ...]:
        return (os.system, (f"touch {self.marker}",))


class TouchPayload:
    """Pickles to a call of ``pathlib.Path.touch``: unpickling it creates a file."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[Any, ...]:
        return (pathlib.Path.touch, (pathlib.Path(self.marker),))


def dump_pickle(obj: object, path: Path) -> None:
    with path.open("wb") as handle:
        pickle.dump(obj, handle)


def dump_torch(obj: object, path: Path) -> None:
    torch.save(obj, path)  # a zip archive with data.pkl inside


def dump_torch_in_state_dict(obj: object, path: Path) -> None:
    torch.save({"conv1.weight": torch.zeros(1), "payload": obj}, path)


@pytest.mark.parametrize("payload", [SystemPayload, TouchPayload])
@pytest.mark.parametrize("dump", [dump_pickle, dump_torch, dump_torch_in_state_dict])
@pytest.mark.parametrize("suffix", [".pt", ".pkl", ".safetensors"])
def test_malicious_pickles_are_refused_and_never_run(
        tmp_path: Path, payload: type, dump: Callable[[object, Path], None],
        suffix: str) -> None:
    marker = tmp_path / "pwned"
    path = tmp_path / f"evil{suffix}"
    dump(payload(marker), path)
    error = assert_one_line_model_error(
        lambda: load_classifier(path, arch="lenet5", input_shape=(1, 28, 28), num_classes=10),
        "refusing|not a readable safetensors")
    if suffix != ".safetensors":
        assert "never unpickles" in str(error)
    with pytest.raises(ModelError):
        read_card(path)
    assert not marker.exists()


def test_the_payload_is_live(tmp_path: Path) -> None:
    # proves the refusal test above would notice a loader that unpickles
    marker = tmp_path / "pwned"
    path = tmp_path / "evil.pkl"
    dump_pickle(TouchPayload(marker), path)
    with path.open("rb") as handle:
        pickle.load(handle)  # the unsafe call brittle never makes
    assert marker.exists()


@pytest.mark.parametrize("obj", [
    [torch.zeros(2)],
    {"state_dict": {"w": torch.zeros(2)}},
    {"w": torch.zeros(2), "epoch": 3},
    {},
])
def test_safe_pickles_that_are_not_state_dicts_are_refused(tmp_path: Path, obj: object) -> None:
    path = tmp_path / "thing.pt"
    torch.save(obj, path)
    assert_one_line_model_error(
        lambda: load_classifier(path, arch="lenet5", input_shape=(1, 28, 28), num_classes=10),
        "not a flat")


# --- broken files ---------------------------------------------------------------------

def test_missing_file(tmp_path: Path) -> None:
    assert_one_line_model_error(lambda: load_classifier(tmp_path / "no.safetensors"),
                                "no checkpoint file")
    assert_one_line_model_error(lambda: read_card(tmp_path / "no.safetensors"),
                                "no checkpoint file")


@pytest.mark.parametrize("keep", [0, 5, 12, 0.5, -1])
def test_truncated_safetensors(tmp_path: Path, keep: float) -> None:
    path = save_classifier(trained_like("lenet5", (1, 28, 28)), tmp_path / "m.safetensors")
    data = path.read_bytes()
    cut = int(len(data) * keep) if isinstance(keep, float) else keep % len(data)
    broken = tmp_path / "broken.safetensors"
    broken.write_bytes(data[:cut])
    assert_one_line_model_error(lambda: load_classifier(broken), "not a readable safetensors")


def test_garbled_header(tmp_path: Path) -> None:
    path = tmp_path / "g.safetensors"
    header = b'{"w": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]'  # unterminated
    path.write_bytes(len(header).to_bytes(8, "little") + header + bytes(8))
    assert_one_line_model_error(lambda: load_classifier(path), "not a readable safetensors")


@pytest.mark.parametrize("suffix", [".pt", ".bin"])
def test_garbage_plain_files(tmp_path: Path, suffix: str) -> None:
    path = tmp_path / f"junk{suffix}"
    path.write_bytes(b"not a checkpoint at all")
    assert_one_line_model_error(
        lambda: load_classifier(path, arch="lenet5", input_shape=(1, 28, 28), num_classes=10),
        "cannot read|refusing")


def test_safetensors_without_card(tmp_path: Path) -> None:
    clf = trained_like("lenet5", (1, 28, 28))
    path = tmp_path / "plain.safetensors"
    save_file({k: v.contiguous() for k, v in clf.model.state_dict().items()}, str(path))
    assert_one_line_model_error(lambda: load_classifier(path), "no brittle model card")
    assert_one_line_model_error(lambda: read_card(path), "no brittle model card")
    loaded = load_classifier(path, arch="lenet5", input_shape=(1, 28, 28), num_classes=10)
    x = torch.rand(2, 1, 28, 28)
    with torch.no_grad():
        assert torch.equal(loaded(x), clf(x))


def test_unknown_format_version(tmp_path: Path) -> None:
    card = ModelCard(arch="mlp", arch_kwargs={"in_features": 4}, input_shape=(1, 2, 2),
                     num_classes=10)
    path = tmp_path / "future.safetensors"
    save_file({"head.weight": torch.zeros(10, 4)}, str(path),
              metadata={"format": "brittle/9", "brittle_card": card.to_json()})
    assert_one_line_model_error(lambda: load_classifier(path), "brittle/9")


# --- weights that do not fit ------------------------------------------------------------

def test_wrong_arch_state_dict(tmp_path: Path) -> None:
    path = tmp_path / "lenet.pt"
    torch.save(trained_like("lenet5", (1, 28, 28)).model.state_dict(), path)
    assert_one_line_model_error(
        lambda: load_classifier(path, arch="resnet20", input_shape=(1, 28, 28), num_classes=10),
        "weights do not fit resnet20")
    assert_one_line_model_error(
        lambda: load_classifier(path, arch="lenet5", input_shape=(1, 28, 28), num_classes=5),
        r"wrong shape: fc3.weight \(10, 84\) != \(5, 84\)")


def test_wrong_arch_override_of_a_card(tmp_path: Path) -> None:
    path = save_classifier(trained_like("lenet5", (1, 28, 28)), tmp_path / "m.safetensors")
    assert_one_line_model_error(lambda: load_classifier(path, arch="lenet5-large"),
                                "do not fit lenet5-large")


# --- saving: refusals and atomicity -----------------------------------------------------

def test_failing_save_leaves_no_partial_file(tmp_path: Path,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    clf = trained_like("lenet5", (1, 28, 28))
    target = tmp_path / "m.safetensors"
    target.write_bytes(b"previous version")

    def half_write(tensors: dict[str, torch.Tensor], filename: str, **_: Any) -> None:
        Path(filename).write_bytes(b"partial")
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(checkpoint_module, "save_file", half_write)
    assert_one_line_model_error(lambda: save_classifier(clf, target), "No space left")
    assert target.read_bytes() == b"previous version"
    assert sorted(os.listdir(tmp_path)) == ["m.safetensors"]
    fresh = tmp_path / "new.safetensors"
    assert_one_line_model_error(lambda: save_classifier(clf, fresh), "No space left")
    assert not fresh.exists() and sorted(os.listdir(tmp_path)) == ["m.safetensors"]


def test_save_refusals(tmp_path: Path) -> None:
    clf = trained_like("lenet5", (1, 28, 28), mean=(0.5,), std=(0.5,))
    assert_one_line_model_error(lambda: save_classifier(clf, tmp_path / "m.pt"),
                                "must end in .safetensors")
    assert_one_line_model_error(lambda: save_classifier(clf.model, tmp_path / "m.safetensors"),  # type: ignore[arg-type]
                                "as_classifier")
    assert_one_line_model_error(
        lambda: save_classifier(clf, tmp_path / "m.safetensors", mean=(0.1,)),
        "card says mean")
    assert_one_line_model_error(
        lambda: save_classifier(clf, tmp_path / "m.safetensors", colour="red"),
        "unknown model card field")
    assert_one_line_model_error(
        lambda: save_classifier(clf, tmp_path / "m.safetensors", arch="resnet20",
                                arch_kwargs={"in_channels": 1}),
        "weights do not fit resnet20")
    bare = as_classifier(nn.Sequential(nn.Flatten(), nn.Linear(4, 2)), input_shape=(1, 2, 2))
    assert_one_line_model_error(lambda: save_classifier(bare, tmp_path / "b.safetensors"),
                                "names no architecture")
    ensemble = Ensemble([clf, clf], combine="logits").as_classifier()
    assert_one_line_model_error(lambda: save_classifier(ensemble, tmp_path / "e.safetensors"),
                                "ensemble")
    assert os.listdir(tmp_path) == []


def test_a_bare_module_saves_once_its_arch_is_named(tmp_path: Path) -> None:
    torch.manual_seed(0)
    net = nn.Sequential()
    net.add_module("flatten", nn.Flatten())
    net.add_module("head", nn.Linear(4, 3))
    clf = as_classifier(net, input_shape=(1, 2, 2))
    path = save_classifier(clf, tmp_path / "m.safetensors", arch="mlp",
                           arch_kwargs={"in_features": 4, "hidden": [], "num_classes": 3})
    x = torch.rand(2, 1, 2, 2)
    with torch.no_grad():
        assert torch.equal(load_classifier(path)(x), clf(x))


def test_tied_weights_are_saved_as_separate_copies() -> None:
    net = nn.Sequential(nn.Linear(3, 3, bias=False), nn.Linear(3, 3, bias=False))
    net[1].weight = net[0].weight  # shared storage: safetensors refuses it as is
    tensors = checkpoint_module._state_tensors(net)
    assert torch.equal(tensors["0.weight"], tensors["1.weight"])
    assert tensors["0.weight"].data_ptr() != tensors["1.weight"].data_ptr()


def test_bad_map_location(tmp_path: Path) -> None:
    path = save_classifier(trained_like("lenet5", (1, 28, 28)), tmp_path / "m.safetensors")
    assert_one_line_model_error(lambda: load_classifier(path, map_location="gpu9"),
                                "not a device")
