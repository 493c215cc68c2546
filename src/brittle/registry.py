"""Name-to-factory registries.

Every pluggable family (models, datasets, attacks, recipes, ...) keeps one :class:`Registry`.
Entries register with a decorator and are built by name, so the CLI, the audit and the tests
can enumerate them::

    MODELS = Registry("model")

    @MODELS.register("lenet5")
    def lenet5(*, num_classes: int = 10) -> nn.Module: ...

    MODELS.create("lenet5", num_classes=10)
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Generic, TypeVar

from brittle.errors import BrittleError

T = TypeVar("T")


class Registry(Generic[T]):
    """A named collection of factories that build objects of one family."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self._entries: dict[str, Callable[..., T]] = {}
        self._docs: dict[str, str] = {}

    def register(self, name: str) -> Callable[[Callable[..., T]], Callable[..., T]]:
        """Decorator that adds ``factory`` under ``name``; a name can be taken only once."""

        def add(factory: Callable[..., T]) -> Callable[..., T]:
            if name in self._entries:
                raise ValueError(f"{self.kind} {name!r} is already registered")
            self._entries[name] = factory
            doc = (factory.__doc__ or "").strip().splitlines()
            self._docs[name] = doc[0] if doc else ""
            return factory

        return add

    def create(self, name: str, /, **kwargs: Any) -> T:
        """Build the entry ``name`` with keyword arguments ``kwargs``."""
        return self.get(name)(**kwargs)

    def get(self, name: str) -> Callable[..., T]:
        """Return the factory registered as ``name``, or raise a one-line error listing choices."""
        try:
            return self._entries[name]
        except KeyError:
            known = ", ".join(self.names()) or "none"
            raise BrittleError(f"unknown {self.kind} {name!r}; known: {known}") from None

    def names(self) -> list[str]:
        """All registered names, sorted."""
        return sorted(self._entries)

    def describe(self, name: str) -> str:
        """The first line of the entry's docstring."""
        self.get(name)
        return self._docs[name]

    def __contains__(self, name: object) -> bool:
        return name in self._entries
