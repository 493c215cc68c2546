"""Safe checkpoints: one ``.safetensors`` file with a JSON model card; nothing is unpickled.

A checkpoint holds the state dict of the classifier's inner network and, in the file's
metadata, ``{"format": "brittle/1", "brittle_card": <ModelCard JSON>}``. Loading rebuilds the
network from the card's registered architecture and keywords, then loads the weights strictly.

Plain PyTorch files (``.pt``, ``.pth``, ``.bin``) are read only with
``torch.load(..., weights_only=True)`` and only when they hold a flat state dict; pickles of
arbitrary objects can run code when loaded, so they are refused.
"""

from __future__ import annotations

import os
import pickle
import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import save_file
from torch import nn

from brittle._utils.atomic import atomic_path
from brittle.errors import BrittleError, ModelError
from brittle.models.card import ModelCard
from brittle.models.classifier import Classifier
from brittle.models.factory import arch_kwargs_for
from brittle.models.zoo import create

__all__ = ["FORMAT", "ModelCard", "load_classifier", "read_card", "save_classifier"]

FORMAT = "brittle/1"
_FACTS = ("input_shape", "num_classes", "class_names", "mean", "std", "bounds")
_VOLATILE = ("brittle_version", "created")  # rewritten on every save unless given
_REFUSAL = ("brittle never unpickles arbitrary objects; save a plain state dict "
            "(torch.save(model.state_dict(), path)) or a safetensors file "
            "(brittle.models.save_classifier)")

PathLike = str | os.PathLike[str]


def save_classifier(classifier: Classifier, path: PathLike, *, card: ModelCard | None = None,
                    **card_fields: Any) -> Path:
    """Save ``classifier`` as one ``.safetensors`` file with its model card, atomically.

    The card starts from ``card`` if given, else from ``classifier.card`` (architecture and
    keywords from :func:`~brittle.models.build_classifier`, or a loaded card) plus the
    classifier's own facts (input shape, classes, normalization, bounds) and the current
    brittle version and time; ``card_fields`` then override single fields. The facts must
    agree with the classifier.

    Args:
        classifier: The classifier; its inner ``model`` state dict is saved.
        path: Target file, ending in ``.safetensors``.
        card: A complete card to store (its ``created`` and version are kept).
        **card_fields: :class:`ModelCard` fields such as ``dataset``, ``recipe``, ``seed``,
            ``clean_accuracy``.

    Returns:
        The path written.

    Raises:
        ModelError: The path does not end in ``.safetensors``, the card names no registered
            architecture, the weights do not fit it, or the file cannot be written.

    Example:
        >>> from brittle.models import build_classifier
        >>> clf = build_classifier("lenet5", input_shape=(1, 28, 28), num_classes=10)
        >>> save_classifier(clf, "lenet.safetensors", dataset="mnist", seed=0)  # doctest: +SKIP
        PosixPath('lenet.safetensors')
    """
    if not isinstance(classifier, Classifier):
        raise ModelError("save_classifier takes a Classifier; wrap the module with as_classifier")
    target = Path(path)
    if target.suffix != ".safetensors":
        raise ModelError(f"checkpoint path must end in .safetensors, got {target.name}")
    final = _card_for(classifier, card, card_fields)
    tensors = _state_tensors(classifier.model)
    _check_weights(_rebuild_model(final), tensors, final)
    metadata = {"format": FORMAT, "brittle_card": final.to_json()}
    try:
        with atomic_path(target) as tmp:
            save_file(tensors, str(tmp), metadata=metadata)
    except (OSError, SafetensorError) as exc:
        raise ModelError(f"cannot write checkpoint {target}: {_first_line(exc)}") from None
    except BrittleError as exc:  # the directory cannot be created or written
        raise ModelError(str(exc)) from None
    return target


def read_card(path: PathLike) -> ModelCard:
    """The :class:`ModelCard` of a brittle checkpoint, without loading its weights.

    Example:
        >>> read_card("lenet.safetensors").arch  # doctest: +SKIP
        'lenet5'
    """
    source = _existing(path)
    if not _is_safetensors(source):
        raise ModelError(f"{source.name} is not a safetensors file; only brittle .safetensors "
                         "checkpoints carry a model card")
    card, _ = _read_safetensors(source, weights=False)
    if card is None:
        raise ModelError(f"{source.name} has no brittle model card (not saved by brittle)")
    return card


def load_classifier(path: PathLike, *, map_location: str | torch.device = "cpu",
                    arch: str | None = None, **facts: Any) -> Classifier:
    """Load a classifier from a brittle checkpoint or a plain PyTorch state dict.

    ``.safetensors`` files are rebuilt from their card; ``arch`` and ``facts`` override card
    fields, and a safetensors file without a card needs them. Any other file is read with
    ``torch.load(path, weights_only=True)`` and must hold a flat ``{name: tensor}`` state dict;
    then ``arch``, ``input_shape`` and ``num_classes`` are required (plus ``mean``, ``std``,
    ``class_names``, ``bounds``, ``arch_kwargs`` as needed).

    Args:
        path: The checkpoint file.
        map_location: Device for the returned classifier.
        arch: Registered architecture name (required for plain state dicts).
        **facts: :class:`ModelCard` fields such as ``input_shape``, ``num_classes``, ``mean``.

    Returns:
        The :class:`Classifier` in eval mode on ``map_location``; its ``card`` holds the
        full model card.

    Raises:
        ModelError: (one line) missing or unreadable file, a pickle of anything but tensors,
            no card and no ``arch``, or weights that do not fit the architecture.

    Example:
        >>> clf = load_classifier("lenet.safetensors")  # doctest: +SKIP
        >>> clf = load_classifier("net.pt", arch="resnet20", input_shape=(3, 32, 32),
        ...                       num_classes=10)  # doctest: +SKIP
    """
    source = _existing(path)
    device = _device(map_location)
    card: ModelCard | None = None
    if _is_safetensors(source):
        card, tensors = _read_safetensors(source, weights=True)
    else:
        tensors = _read_state_dict(source, device)
    if arch is not None:
        facts["arch"] = arch
    card = _card_from_facts(source, facts) if card is None else _override(card, facts)
    model = _rebuild_model(card)
    _check_weights(model, tensors, card)
    model.load_state_dict(tensors, strict=True)
    classifier = Classifier(model, input_shape=card.input_shape, num_classes=card.num_classes,
                            mean=card.mean, std=card.std, bounds=card.bounds,
                            class_names=card.class_names, card=card.to_dict())
    return classifier.to(device).eval()


def _card_for(classifier: Classifier, card: ModelCard | None,
              fields: dict[str, Any]) -> ModelCard:
    if card is not None:
        data = card.to_dict()
    else:
        known = set(ModelCard.fields())
        data = {k: v for k, v in classifier.card.items() if k in known and k not in _VOLATILE}
        others = {k: v for k, v in classifier.card.items() if k not in known}
        if "ensemble" in others:
            raise ModelError("an ensemble has no single architecture; save each member")
        if others:
            data["extra"] = {**dict(data.get("extra") or {}), **others}
        data.update(_facts_of(classifier))
    data.update(fields)
    if not data.get("arch"):
        raise ModelError("the classifier's card names no architecture; build it with "
                         "build_classifier or register it in MODELS and pass arch=NAME")
    final = ModelCard.from_dict(data)
    _check_facts(final, classifier)
    return final


def _facts_of(classifier: Classifier) -> dict[str, Any]:
    mean = _short(classifier.mean) if classifier.normalize else None
    std = _short(classifier.std) if classifier.normalize else None
    return {"input_shape": classifier.input_shape, "num_classes": classifier.num_classes,
            "class_names": classifier.class_names, "mean": mean, "std": std,
            "bounds": classifier.bounds}


def _short(values: torch.Tensor) -> tuple[float, ...]:
    # shortest decimal that rounds back to the same float32 (0.1307, not 0.13070000708)
    return tuple(float(str(np.float32(v))) for v in values.detach().cpu().tolist())


def _check_facts(card: ModelCard, classifier: Classifier) -> None:
    mine = ModelCard.from_dict({**card.to_dict(), **_facts_of(classifier)})
    for fact in _FACTS:
        said, has = getattr(card, fact), getattr(mine, fact)
        if fact in ("mean", "std") and said is not None and has is not None:
            same = torch.equal(torch.tensor(said, dtype=torch.float32),
                               torch.tensor(has, dtype=torch.float32))
        else:
            same = said == has
        if not same:
            raise ModelError(f"card says {fact}={said} but the classifier has {has}")


def _state_tensors(model: nn.Module) -> dict[str, torch.Tensor]:
    tensors = {}
    for name, value in model.state_dict().items():
        if not isinstance(value, torch.Tensor):
            raise ModelError(f"state entry {name!r} is a {type(value).__name__}, not a tensor")
        # own contiguous CPU copies: safetensors refuses tensors that share memory (tied weights)
        tensors[name] = value.detach().cpu().clone().contiguous()
    return tensors


def _rebuild_model(card: ModelCard) -> nn.Module:
    # building draws random initial weights; keep the caller's random stream untouched
    with torch.random.fork_rng(devices=[]):
        return create(card.arch, **card.arch_kwargs)


def _check_weights(model: nn.Module, tensors: Mapping[str, torch.Tensor],
                   card: ModelCard) -> None:
    expected = model.state_dict()
    problems = []
    missing = [k for k in expected if k not in tensors]
    unexpected = [k for k in tensors if k not in expected]
    wrong = [f"{k} {tuple(tensors[k].shape)} != {tuple(v.shape)}"
             for k, v in expected.items() if k in tensors and tensors[k].shape != v.shape]
    for label, items in (("missing", missing), ("unexpected", unexpected),
                         ("wrong shape", wrong)):
        if items:
            more = f" and {len(items) - 3} more" if len(items) > 3 else ""
            problems.append(f"{label}: {', '.join(items[:3])}{more}")
    if problems:
        raise ModelError(f"weights do not fit {card.arch}({_kwargs_text(card.arch_kwargs)}): "
                         + "; ".join(problems))


def _kwargs_text(kwargs: Mapping[str, Any]) -> str:
    return ", ".join(f"{k}={v!r}" for k, v in kwargs.items())


def _card_from_facts(source: Path, facts: dict[str, Any]) -> ModelCard:
    needed = [k for k in ("arch", "input_shape", "num_classes") if facts.get(k) is None]
    if needed:
        raise ModelError(f"{source.name} has no brittle model card; pass "
                         f"{', '.join(f'{k}=' for k in needed)} to rebuild the model")
    kwargs = arch_kwargs_for(facts["arch"], facts["input_shape"], facts["num_classes"],
                             dict(facts.pop("arch_kwargs", None) or {}))
    return ModelCard.from_dict({**facts, "arch_kwargs": kwargs})


def _override(card: ModelCard, facts: dict[str, Any]) -> ModelCard:
    return ModelCard.from_dict({**card.to_dict(), **facts}) if facts else card


def _existing(path: PathLike) -> Path:
    source = Path(path)
    if not source.is_file():
        raise ModelError(f"no checkpoint file at {source}")
    return source


def _device(map_location: str | torch.device) -> torch.device:
    try:
        return torch.device(map_location)
    except (RuntimeError, TypeError):
        raise ModelError(f"map_location {map_location!r} is not a device") from None


def _is_safetensors(path: Path) -> bool:
    """By suffix, or by the layout: an 8-byte little-endian header length, then ``{``."""
    if path.suffix == ".safetensors":
        return True
    with path.open("rb") as handle:
        head = handle.read(9)
    size = path.stat().st_size
    return len(head) == 9 and head[8:9] == b"{" and int.from_bytes(head[:8], "little") < size


def _read_safetensors(path: Path, *, weights: bool
                      ) -> tuple[ModelCard | None, dict[str, torch.Tensor]]:
    try:
        with safe_open(str(path), framework="pt", device="cpu") as handle:
            metadata = handle.metadata() or {}
            keys = handle.keys() if weights else []  # the handle itself is not iterable
            tensors = {k: handle.get_tensor(k) for k in keys}
    except (SafetensorError, OSError, ValueError, RuntimeError) as exc:
        raise ModelError(f"{path.name} is not a readable safetensors file "
                         f"(truncated or corrupt?): {_first_line(exc)}") from None
    if "brittle_card" not in metadata:
        return None, tensors
    if metadata.get("format") != FORMAT:
        raise ModelError(f"{path.name} has checkpoint format {metadata.get('format')!r}; this "
                         f"brittle reads {FORMAT!r}")
    return ModelCard.from_json(metadata["brittle_card"]), tensors


def _read_state_dict(path: Path, device: torch.device) -> dict[str, torch.Tensor]:
    try:
        # weights_only: the restricted unpickler builds tensors and containers, never calls code
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message="Detected pickle protocol")
            obj = torch.load(path, map_location=device, weights_only=True)
    except pickle.UnpicklingError as exc:
        raise ModelError(f"refusing {path.name}: torch.load(weights_only=True) cannot read it "
                         f"as tensors{_unpickler_reason(exc)}; " + _REFUSAL) from None
    except Exception as exc:  # torch raises many types for files that are not checkpoints
        raise ModelError(f"cannot read {path.name} as a PyTorch state dict: "
                         f"{_first_line(exc)}") from None
    if not (isinstance(obj, Mapping) and obj
            and all(isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in obj.items())):
        raise ModelError(f"refusing {path.name}: it holds a {type(obj).__name__}, not a flat "
                         f"{{name: tensor}} state dict; " + _REFUSAL)
    return dict(obj)


def _unpickler_reason(exc: BaseException) -> str:
    # torch's message is many lines of advice; keep only the line naming what was refused
    for line in str(exc).splitlines()[1:]:
        if "unsupported" in line.lower():
            return f" ({line.strip().rstrip('.')})"
    return ""


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
