"""The recipe registry: ``create("standard", epochs=10)`` builds a recipe by name."""

from __future__ import annotations

from brittle.recipes.base import Recipe
from brittle.registry import Registry

RECIPES: Registry[Recipe] = Registry("recipe")
