"""Build a :class:`Classifier` for a dataset's image shape from a registered architecture."""

from __future__ import annotations

import contextlib
import inspect
from collections.abc import Iterator, Sequence
from typing import Any

import torch
from torch import nn

from brittle.errors import ModelError
from brittle.models.classifier import Classifier
from brittle.models.zoo import create, get_factory, json_kwargs


def build_classifier(arch: str, *, input_shape: Sequence[int], num_classes: int,
                     class_names: Sequence[str] | None = None,
                     mean: Sequence[float] | None = None, std: Sequence[float] | None = None,
                     bounds: tuple[float, float] = (0.0, 1.0),
                     **arch_kwargs: Any) -> Classifier:
    """Build the registered ``arch`` for images of ``input_shape`` and wrap it.

    The image shape is mapped onto the factory's keywords: ``in_channels`` gets ``C``,
    ``input_size`` gets ``H`` (square images only), ``input_shape`` gets ``(C, H, W)`` and
    ``num_classes`` gets ``num_classes``. One forward pass on a blank image checks that the
    network accepts the shape and returns ``num_classes`` logits. The exact keywords used are
    kept in ``classifier.card`` (``{"arch": ..., "arch_kwargs": ...}``), so that
    :func:`~brittle.models.save_classifier` can store them and loading can rebuild the model.

    Args:
        arch: A name from :func:`~brittle.models.names`.
        input_shape: ``(C, H, W)`` of one image.
        num_classes: Number of logits ``K``.
        class_names: Names of the ``K`` classes (``"0"``, ``"1"``, ... by default).
        mean: Per-channel mean for normalization inside the classifier.
        std: Per-channel standard deviation for normalization.
        bounds: The valid pixel range of the inputs.
        **arch_kwargs: Further keywords of the architecture (e.g. ``hidden`` for ``mlp``).

    Returns:
        A :class:`Classifier` in train mode, freshly initialized (seed torch first for
        reproducible weights).

    Raises:
        ModelError: The name is unknown, a keyword contradicts the input shape, or the
            architecture cannot take images of that shape (e.g. ``lenet5`` on 64x64).

    Example:
        >>> clf = build_classifier("lenet5", input_shape=(1, 28, 28), num_classes=10,
        ...                        mean=(0.1307,), std=(0.3081,))
        >>> clf.card
        {'arch': 'lenet5', 'arch_kwargs': {'num_classes': 10, 'in_channels': 1, 'input_size': 28}}
    """
    shape = _image_shape(input_shape)
    kwargs = arch_kwargs_for(arch, shape, num_classes, arch_kwargs)
    model = create(arch, **kwargs)
    outputs = _probe(arch, model, shape)
    if outputs != num_classes:
        raise ModelError(f"{arch} returns {outputs} logits, expected num_classes={num_classes}")
    return Classifier(model, input_shape=shape, num_classes=num_classes, mean=mean, std=std,
                      bounds=bounds, class_names=class_names,
                      card={"arch": arch, "arch_kwargs": kwargs})


def _image_shape(input_shape: Sequence[int]) -> tuple[int, int, int]:
    shape = tuple(int(s) for s in input_shape)
    if len(shape) != 3 or min(shape) < 1:
        raise ModelError(f"input_shape must be (C, H, W) of positive sizes, got {shape}")
    return shape[0], shape[1], shape[2]


def arch_kwargs_for(arch: str, input_shape: Sequence[int], num_classes: int,
                    given: dict[str, Any]) -> dict[str, Any]:
    """The keywords that build ``arch`` for this data: those the image shape and
    ``num_classes`` imply (for the factory's parameters of those names), then ``given``.
    """
    params = inspect.signature(get_factory(arch)).parameters
    shape = _image_shape(input_shape)
    channels, height, width = shape
    derived: dict[str, Any] = {}
    if "num_classes" in params:
        derived["num_classes"] = num_classes
    if "in_channels" in params:
        derived["in_channels"] = channels
    if "input_size" in params:
        if height != width:
            raise ModelError(f"{arch} takes square images, got {height}x{width}")
        derived["input_size"] = height
    if "input_shape" in params:
        derived["input_shape"] = list(shape)
    given = _jsonable(given)
    for key, value in derived.items():
        if key in given and given[key] != value:
            raise ModelError(f"{arch}: {key}={given[key]!r} contradicts the data "
                             f"(input_shape={shape}, num_classes={num_classes})")
    return {**derived, **{k: v for k, v in given.items() if k not in derived}}


def _jsonable(kwargs: dict[str, Any]) -> dict[str, Any]:
    # keep non-JSON values as given: the model still builds, only saving it will refuse
    try:
        return json_kwargs(kwargs)
    except ModelError:
        return dict(kwargs)


def _probe(arch: str, model: nn.Module, shape: tuple[int, int, int]) -> int:
    """Run one blank image through ``model`` in eval mode; return the number of logits."""
    param = next(model.parameters(), None)
    probe = torch.zeros(1, *shape) if param is None else torch.zeros(
        1, *shape, dtype=param.dtype, device=param.device)
    with _eval_mode(model), torch.no_grad():
        try:
            out = model(probe)
        except (RuntimeError, ValueError) as exc:
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise ModelError(f"{arch} cannot take images of shape {shape}: {first}") from None
    if not isinstance(out, torch.Tensor) or out.ndim != 2 or out.shape[0] != 1:
        got = tuple(out.shape) if isinstance(out, torch.Tensor) else type(out).__name__
        raise ModelError(f"{arch} must return logits (N, K), got {got}")
    return int(out.shape[1])


@contextlib.contextmanager
def _eval_mode(model: nn.Module) -> Iterator[None]:
    modes = [(m, m.training) for m in model.modules()]
    model.eval()
    try:
        yield
    finally:
        for module, mode in modes:
            module.training = mode
