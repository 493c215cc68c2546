"""Adversarial attacks behind one API.

Example:
    >>> from brittle import attacks
    >>> attack = attacks.create("pgd", eps=0.3, steps=40)  # doctest: +SKIP
    >>> result = attack(classifier, x, y, target="least-likely")  # doctest: +SKIP
"""

from __future__ import annotations

from typing import Any

# Attack modules register themselves on import; one line per module.
from brittle.attacks import apgd as _apgd  # noqa: F401
from brittle.attacks import autoattack as _autoattack  # noqa: F401
from brittle.attacks import bim as _bim  # noqa: F401
from brittle.attacks import cw as _cw  # noqa: F401
from brittle.attacks import deepfool as _deepfool  # noqa: F401
from brittle.attacks import fab as _fab  # noqa: F401
from brittle.attacks import fgsm as _fgsm  # noqa: F401
from brittle.attacks import mifgsm as _mifgsm  # noqa: F401
from brittle.attacks import square as _square  # noqa: F401
from brittle.attacks.base import Attack, AttackContext, AttackResult
from brittle.attacks.pgd import PGD
from brittle.attacks.registry import ATTACKS
from brittle.attacks.targets import LeastLikely, RandomTarget, TargetSpec, parse_target


def create(name: str, /, **kwargs: Any) -> Attack:
    """Build the registered attack ``name`` with keyword hyperparameters."""
    return ATTACKS.create(name, **kwargs)


def names() -> list[str]:
    return ATTACKS.names()


__all__ = ["ATTACKS", "PGD", "Attack", "AttackContext", "AttackResult", "LeastLikely",
           "RandomTarget", "TargetSpec", "create", "names", "parse_target"]
