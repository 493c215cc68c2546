"""Progress bars that stay out of the way: shown on a terminal, silent in logs and tests."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, TypeVar

from tqdm.auto import tqdm

T = TypeVar("T")


def progress(iterable: Iterable[T], *, enabled: bool | None = None, **kwargs: Any) -> Any:
    """Wrap ``iterable`` in a tqdm bar on stderr.

    ``enabled=None`` shows the bar only when stderr is a terminal; ``False`` never shows it.
    """
    disable = None if enabled is None else not enabled
    return tqdm(iterable, disable=disable, dynamic_ncols=True, leave=False, **kwargs)
