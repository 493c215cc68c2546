"""Plain supervised training with cross-entropy: the baseline every other recipe is compared to."""

from __future__ import annotations

from brittle.recipes.base import Recipe
from brittle.recipes.registry import RECIPES


@RECIPES.register("standard")
class Standard(Recipe):
    """Cross-entropy on clean images with SGD or Adam and a cosine or one-cycle schedule.

    Example:
        >>> recipe = Standard(epochs=5, optimizer="adam", lr=1e-3)
        >>> recipe.settings()["optimizer"]
        'adam'
    """

    name = "standard"
