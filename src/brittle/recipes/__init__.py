"""Training recipes, built by name from a registry.

Example:
    >>> from brittle import recipes
    >>> recipe = recipes.create("standard", epochs=3, lr=0.05)
    >>> recipe.settings()["epochs"]
    3
"""

from __future__ import annotations

from typing import Any

from brittle.recipes import adversarial, standard  # noqa: F401  (register the recipes)
from brittle.recipes.base import EpochStats, Recipe, TrainConfig, TrainHistory
from brittle.recipes.registry import RECIPES


def create(name: str, /, **settings: Any) -> Recipe:
    """Build the registered recipe ``name`` with keyword hyperparameters."""
    return RECIPES.create(name, **settings)


def names() -> list[str]:
    return RECIPES.names()


__all__ = ["RECIPES", "EpochStats", "Recipe", "TrainConfig", "TrainHistory", "create", "names"]
