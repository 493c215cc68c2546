"""Adversarial attacks behind one API.

Example:
    >>> from brittle import attacks
    >>> attack = attacks.create("pgd", eps=0.3, steps=40)  # doctest: +SKIP
    >>> result = attack(classifier, x, y, target="least-likely")  # doctest: +SKIP
"""

from __future__ import annotations

from typing import Any

from brittle.attacks.base import Attack, AttackContext, AttackResult
from brittle.attacks.pgd import PGD
from brittle.attacks.registry import ATTACKS
from brittle.attacks.targets import LeastLikely, RandomTarget, TargetSpec, parse_target

# Attack modules register themselves on import; one line per module.


def create(name: str, /, **kwargs: Any) -> Attack:
    """Build the registered attack ``name`` with keyword hyperparameters."""
    return ATTACKS.create(name, **kwargs)


def names() -> list[str]:
    return ATTACKS.names()


__all__ = ["ATTACKS", "PGD", "Attack", "AttackContext", "AttackResult", "LeastLikely",
           "RandomTarget", "TargetSpec", "create", "names", "parse_target"]
