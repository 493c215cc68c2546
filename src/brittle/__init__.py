"""brittle: how and why your image classifier breaks, and what would fix it.

Example:
    >>> import brittle
    >>> clf = brittle.load_classifier("runs/demo/model.safetensors")  # doctest: +SKIP
    >>> print(brittle.evaluate(clf, brittle.data.load("digits", "test")).table())  # doctest: +SKIP
"""

from __future__ import annotations

from brittle import (
    attacks,
    calibration,
    corruptions,
    data,
    diagnose,
    explain,
    models,
    ood,
    recipes,
)
from brittle._utils.allocator import retain_freed_memory
from brittle._version import __version__
from brittle.audit import AuditResult, audit
from brittle.errors import BrittleError, DataError, ModelError
from brittle.evaluation import EvalResult, evaluate
from brittle.models import Classifier, load_classifier, save_classifier
from brittle.training import train

__all__ = ["AuditResult", "BrittleError", "Classifier", "DataError", "EvalResult", "ModelError",
           "__version__", "attacks", "audit", "calibration", "corruptions", "data", "diagnose",
           "evaluate", "explain", "load_classifier", "models", "ood", "recipes",
           "retain_freed_memory", "save_classifier", "train"]
