"""brittle: how and why your image classifier breaks, and what would fix it."""

from __future__ import annotations

from brittle._version import __version__
from brittle.errors import BrittleError

__all__ = ["BrittleError", "__version__"]
