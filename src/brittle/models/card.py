"""The model card: the facts a checkpoint needs to rebuild and describe its classifier."""

from __future__ import annotations

import dataclasses
import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

from brittle._version import __version__
from brittle.errors import ModelError
from brittle.models.zoo import json_kwargs


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


@dataclass(frozen=True, kw_only=True)
class ModelCard:
    """Everything known about a saved classifier, stored as JSON in its checkpoint.

    Values are normalized on construction (sequences become tuples, mappings plain JSON), so
    ``ModelCard.from_json(card.to_json()) == card``.

    Attributes:
        arch: Registered architecture name (see :func:`brittle.models.names`).
        arch_kwargs: The exact keywords the architecture was built with.
        dataset: Name of the training dataset, if known.
        input_shape: ``(C, H, W)`` of one image.
        num_classes: Number of logits ``K``.
        class_names: Names of the ``K`` classes (``"0"``, ``"1"``, ... if not given).
        mean: Per-channel normalization mean, or ``None`` for no normalization.
        std: Per-channel normalization standard deviation, or ``None``.
        bounds: The valid pixel range.
        recipe: Name of the training recipe, if known.
        recipe_settings: The recipe's settings.
        seed: The training seed, if known.
        clean_accuracy: Accuracy on the clean test split, in ``[0, 1]``, if measured.
        brittle_version: The brittle version that wrote the card.
        created: ISO 8601 time of writing (UTC).
        extra: Anything else worth keeping (JSON values).

    Example:
        >>> card = ModelCard(arch="lenet5", input_shape=(1, 28, 28), num_classes=10)
        >>> ModelCard.from_json(card.to_json()) == card
        True
    """

    arch: str
    arch_kwargs: dict[str, Any] = field(default_factory=dict)
    dataset: str | None = None
    input_shape: tuple[int, int, int]
    num_classes: int
    class_names: tuple[str, ...] = ()
    mean: tuple[float, ...] | None = None
    std: tuple[float, ...] | None = None
    bounds: tuple[float, float] = (0.0, 1.0)
    recipe: str | None = None
    recipe_settings: dict[str, Any] = field(default_factory=dict)
    seed: int | None = None
    clean_accuracy: float | None = None
    brittle_version: str = __version__
    created: str = field(default_factory=_now)
    extra: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        fix = self._fixed_values()
        for key, value in fix.items():
            object.__setattr__(self, key, value)

    def _fixed_values(self) -> dict[str, Any]:
        shape = _ints(self.input_shape, "input_shape")
        num_classes = _ints([self.num_classes], "num_classes")[0]
        if len(shape) != 3 or min(shape) < 1 or num_classes < 1:
            raise ModelError(f"card: bad input_shape {self.input_shape} or num_classes "
                             f"{self.num_classes}")
        names = tuple(str(n) for n in self.class_names) or tuple(map(str, range(num_classes)))
        if len(names) != num_classes:
            raise ModelError(f"card: {len(names)} class names for {num_classes} classes")
        bounds = _floats(self.bounds, "bounds")
        if bounds is None or len(bounds) != 2:
            raise ModelError(f"card: bounds must be (low, high), got {self.bounds}")
        if not isinstance(self.arch, str) or not self.arch:
            raise ModelError(f"card: arch must be a registered model name, got {self.arch!r}")
        return {
            "input_shape": shape, "num_classes": num_classes, "class_names": names,
            "mean": _floats(self.mean, "mean"), "std": _floats(self.std, "std"),
            "bounds": bounds,
            "arch_kwargs": json_kwargs(self.arch_kwargs, what="card arch_kwargs"),
            "recipe_settings": json_kwargs(self.recipe_settings, what="card recipe_settings"),
            "extra": json_kwargs(self.extra, what="card extra"),
            "seed": None if self.seed is None else _ints([self.seed], "seed")[0],
            "clean_accuracy": _accuracy(self.clean_accuracy),
        }

    def to_dict(self) -> dict[str, Any]:
        """The card as a plain dict (a deep copy)."""
        return dataclasses.asdict(self)

    def to_json(self) -> str:
        """The card as a JSON object, fields in declaration order."""
        return json.dumps(self.to_dict())

    @classmethod
    def fields(cls) -> tuple[str, ...]:
        """Names of all card fields."""
        return tuple(f.name for f in dataclasses.fields(cls))

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ModelCard:
        """Build a card from a mapping of field names; unknown names are refused."""
        unknown = sorted(set(data) - set(cls.fields()))
        if unknown:
            raise ModelError(f"unknown model card field(s) {', '.join(unknown)}; "
                             f"fields: {', '.join(cls.fields())}")
        try:
            return cls(**data)
        except TypeError as exc:  # a required field is missing
            raise ModelError(f"incomplete model card: {exc}") from None

    @classmethod
    def from_json(cls, text: str) -> ModelCard:
        """Parse a card written by :meth:`to_json`."""
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ModelError(f"model card is not valid JSON: {exc}") from None
        if not isinstance(data, dict):
            raise ModelError(f"model card must be a JSON object, got {type(data).__name__}")
        return cls.from_dict(data)


def _ints(values: Sequence[Any], what: str) -> tuple[int, ...]:
    try:
        ints = tuple(int(v) for v in values)
    except (TypeError, ValueError):
        raise ModelError(f"card: {what} must be integers, got {values!r}") from None
    if any(isinstance(v, float) and v != int(v) for v in values):
        raise ModelError(f"card: {what} must be integers, got {values!r}")
    return ints


def _floats(values: Sequence[Any] | None, what: str) -> tuple[float, ...] | None:
    if values is None:
        return None
    try:
        floats = tuple(float(v) for v in values)
    except (TypeError, ValueError):
        raise ModelError(f"card: {what} must be numbers, got {values!r}") from None
    if not all(math.isfinite(v) for v in floats):
        raise ModelError(f"card: {what} must be finite, got {values!r}")
    return floats


def _accuracy(value: Any) -> float | None:
    if value is None:
        return None
    try:
        accuracy = float(value)
    except (TypeError, ValueError):
        raise ModelError(f"card: clean_accuracy must be a number, got {value!r}") from None
    if not 0.0 <= accuracy <= 1.0:
        raise ModelError(f"card: clean_accuracy must be in [0, 1], got {value!r}")
    return accuracy
