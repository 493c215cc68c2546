"""Out-of-distribution detection: detectors behind one API, metrics, OOD sets.

Scores are **higher = more OOD**, and OOD is the positive class of AUROC, AUPR-Out and FPR@95
(see :mod:`brittle.ood.functional`).

Example:
    >>> from brittle import ood
    >>> ood.names()
    ['deep_knn', 'energy', 'knn', 'mahalanobis', 'max_logit', 'msp', 'odin', 'vim']
    >>> feats = ood.extract_features(clf, x_train, ["penultimate"])  # doctest: +SKIP
    >>> det = ood.create("mahalanobis").fit(feats, y_train)  # doctest: +SKIP
    >>> s_in = det.score(ood.extract_features(clf, x_test, det.layers))  # doctest: +SKIP
"""

from __future__ import annotations

from typing import Any

# detector modules register themselves on import; one line per module
from brittle.ood import deep_knn as _deep_knn  # noqa: F401
from brittle.ood import energy as _energy  # noqa: F401
from brittle.ood import knn as _knn  # noqa: F401
from brittle.ood import mahalanobis as _mahalanobis  # noqa: F401
from brittle.ood import max_logit as _max_logit  # noqa: F401
from brittle.ood import msp as _msp  # noqa: F401
from brittle.ood import odin as _odin  # noqa: F401
from brittle.ood import vim as _vim  # noqa: F401
from brittle.ood.base import DETECTORS, Detector, Features
from brittle.ood.convert import convert_images
from brittle.ood.features import available_layers, extract_features
from brittle.ood.functional import (
    aupr_in,
    aupr_out,
    auroc,
    fpr_at_tpr,
    ood_metrics,
    score_histograms,
)
from brittle.ood.synthetic import synthetic

CONVENTION = {"positive": "ood", "score": "higher means more OOD",
              "fpr95": "fraction of in-distribution samples scoring >= the highest threshold "
                       "that detects 95% of OOD samples"}
"""The conventions every OOD result records."""


def create(name: str, /, **kwargs: Any) -> Detector:
    """Build the registered detector ``name`` with keyword hyperparameters.

    Example:
        >>> create("knn", k=10).k
        10
    """
    return DETECTORS.create(name, **kwargs)


def names() -> list[str]:
    """Registered detector names, sorted."""
    return DETECTORS.names()


__all__ = ["CONVENTION", "DETECTORS", "Detector", "Features", "aupr_in", "aupr_out", "auroc",
           "available_layers", "convert_images", "create", "extract_features", "fpr_at_tpr",
           "names", "ood_metrics", "score_histograms", "synthetic"]
