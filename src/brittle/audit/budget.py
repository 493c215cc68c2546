"""Audit budgets: how many samples each section sees and how hard the attacks try."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Literal

from brittle.errors import BrittleError

BudgetName = Literal["quick", "standard", "thorough"]


@dataclass(frozen=True)
class Budget:
    """Sample sizes and attack strength of one audit; recorded in every result.

    Attributes:
        name: ``quick``, ``standard`` or ``thorough``.
        n: Test images for the clean, corruption, OOD and calibration sections (``None``: all).
        attack_n: Test images attacked (a seeded subset of the ``n``).
        curve_budgets: Number of eps budgets on each robustness curve (besides eps 0).
        pgd_steps: Steps of the PGD attacks (curve and per-class).
        pgd_restarts: Random restarts of the per-class PGD attack.
        autoattack: Which AutoAttack cascade runs at the main budget: ``none``, ``fast``
            (APGD-CE then APGD-T) or ``standard`` (APGD-CE, APGD-T, FAB-T, Square).
        autoattack_steps: Iterations of AutoAttack's APGD and FAB components.
        ood_n: Images per OOD set, and the training images the detectors are fitted on.
        severities: Corruption severities evaluated.
    """

    name: str
    n: int | None
    attack_n: int
    curve_budgets: int
    pgd_steps: int
    pgd_restarts: int
    autoattack: Literal["none", "fast", "standard"]
    autoattack_steps: int
    ood_n: int
    severities: tuple[int, ...] = (1, 2, 3, 4, 5)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


BUDGETS: dict[str, Budget] = {
    "quick": Budget("quick", n=1000, attack_n=200, curve_budgets=8, pgd_steps=10,
                    pgd_restarts=1, autoattack="fast", autoattack_steps=20, ood_n=1000),
    "standard": Budget("standard", n=None, attack_n=1000, curve_budgets=8, pgd_steps=20,
                       pgd_restarts=1, autoattack="standard", autoattack_steps=100,
                       ood_n=10000),
    "thorough": Budget("thorough", n=None, attack_n=10000, curve_budgets=10, pgd_steps=100,
                       pgd_restarts=5, autoattack="standard", autoattack_steps=100,
                       ood_n=20000),
}


def get_budget(budget: str | Budget) -> Budget:
    """The named budget (or ``budget`` itself), with a one-line error for unknown names."""
    if isinstance(budget, Budget):
        return budget
    if budget not in BUDGETS:
        raise BrittleError(f"unknown budget {budget!r}; use {', '.join(BUDGETS)}")
    return BUDGETS[budget]
