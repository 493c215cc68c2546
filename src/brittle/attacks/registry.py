"""The attack registry: ``create("pgd", eps=0.3, steps=40)`` builds an attack by name."""

from __future__ import annotations

from brittle.attacks.base import Attack
from brittle.registry import Registry

ATTACKS: Registry[Attack] = Registry("attack")
