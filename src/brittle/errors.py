"""User-facing errors.

A :class:`BrittleError` carries one line meant for the person at the keyboard. The CLI prints
it and exits with status 2; library callers can catch it like any exception.
"""

from __future__ import annotations


class BrittleError(Exception):
    """A problem with the user's input or environment, explained in one line."""


class DataError(BrittleError):
    """A dataset is unknown, missing, corrupt or malformed."""


class ModelError(BrittleError):
    """A model or checkpoint is unknown, unsafe, malformed or incompatible with the data."""
