"""Models: the :class:`Classifier` wrapper, the model zoo, ensembles and safe checkpoints.

Example:
    >>> import torch
    >>> from brittle.models import build_classifier, names
    >>> names()
    ['lenet5', 'lenet5-large', 'mlp', 'resnet20', 'resnet32', 'resnet44', 'resnet56']
    >>> clf = build_classifier("resnet20", input_shape=(3, 32, 32), num_classes=10)
    >>> clf(torch.rand(2, 3, 32, 32)).shape
    torch.Size([2, 10])
"""

from __future__ import annotations

# the zoo files register their entries on import; keep them before the users of MODELS
from brittle.models import lenet, mlp, resnet_cifar  # noqa: F401
from brittle.models.card import ModelCard
from brittle.models.checkpoint import load_classifier, read_card, save_classifier
from brittle.models.classifier import Classifier, as_classifier
from brittle.models.ensemble import Ensemble
from brittle.models.factory import build_classifier
from brittle.models.zoo import MODELS, create, names

__all__ = [
    "MODELS",
    "Classifier",
    "Ensemble",
    "ModelCard",
    "as_classifier",
    "build_classifier",
    "create",
    "load_classifier",
    "names",
    "read_card",
    "save_classifier",
]
