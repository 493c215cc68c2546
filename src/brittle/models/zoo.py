"""The model registry: architectures by name.

Each model family lives in its own file and registers its entries on :data:`MODELS`; the
package ``__init__`` imports those files so that every name is known once
``brittle.models`` is imported. Checkpoints store the name and the keyword arguments, so a
registered factory must be rebuildable from JSON-serializable keywords alone.
"""

from __future__ import annotations

import inspect
import json
from collections.abc import Callable, Mapping
from typing import Any

from torch import nn

from brittle.errors import ModelError
from brittle.registry import Registry

MODELS: Registry[nn.Module] = Registry("model")
"""Registered architectures; each factory takes keyword-only arguments and returns a module
that maps normalized images ``(N, C, H, W)`` to logits ``(N, K)``."""


def names() -> list[str]:
    """All registered architecture names, sorted.

    Example:
        >>> "resnet20" in names()
        True
    """
    return MODELS.names()


def create(name: str, /, **kwargs: Any) -> nn.Module:
    """Build the registered architecture ``name`` with ``kwargs``.

    Unknown names and keywords the factory does not take are refused with a one-line
    :class:`~brittle.errors.ModelError`.

    Args:
        name: A name from :func:`names`.
        **kwargs: Keyword arguments of that factory, e.g. ``num_classes``.

    Returns:
        The freshly initialized module (in train mode).

    Example:
        >>> import torch
        >>> net = create("lenet5", num_classes=10)
        >>> net(torch.rand(2, 1, 28, 28)).shape
        torch.Size([2, 10])
    """
    factory = get_factory(name)
    try:
        inspect.signature(factory).bind(**kwargs)
    except TypeError as exc:
        raise ModelError(f"model {name!r}: {exc}") from None
    return factory(**kwargs)


def get_factory(name: str) -> Callable[..., nn.Module]:
    """The factory registered as ``name``; unknown names get a one-line :class:`ModelError`."""
    if name not in MODELS:
        raise ModelError(f"unknown model {name!r}; known: {', '.join(names()) or 'none'}")
    return MODELS.get(name)


def check_positive(name: str, **values: int) -> None:
    """Raise a one-line :class:`ModelError` unless every value is a positive integer."""
    for key, value in values.items():
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ModelError(f"{name}: {key} must be a positive integer, got {value!r}")


def json_kwargs(kwargs: Mapping[str, Any], *, what: str = "model kwargs") -> dict[str, Any]:
    """``kwargs`` as they read back from JSON (tuples become lists), so a checkpoint's card
    holds exactly the keywords the model was built with.

    Raises:
        ModelError: if a value is not a JSON value (str, number, bool, None, list, dict).
    """
    try:
        text = json.dumps(dict(kwargs), allow_nan=True)
    except (TypeError, ValueError) as exc:
        raise ModelError(f"{what} must be JSON values to be saved in a checkpoint: {exc}") from None
    result: dict[str, Any] = json.loads(text)
    return result
