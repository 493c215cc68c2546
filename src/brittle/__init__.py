"""brittle: how and why your image classifier breaks, and what would fix it.

Example:
    >>> import brittle
    >>> clf = brittle.load_classifier("runs/demo/model.safetensors")  # doctest: +SKIP
    >>> print(brittle.evaluate(clf, brittle.data.load("digits", "test")).table())  # doctest: +SKIP
"""

from __future__ import annotations

from brittle import attacks, data, models, recipes
from brittle._version import __version__
from brittle.errors import BrittleError, DataError, ModelError
from brittle.evaluation import EvalResult, evaluate
from brittle.models import Classifier, load_classifier, save_classifier
from brittle.training import train

__all__ = ["BrittleError", "Classifier", "DataError", "EvalResult", "ModelError", "__version__",
           "attacks", "data", "evaluate", "load_classifier", "models", "recipes",
           "save_classifier", "train"]
