"""The audit: one run over every safety axis, one versioned result, one report.

Example:
    >>> import brittle  # doctest: +SKIP
    >>> result = brittle.audit(clf, "mnist", ood=["fashion-mnist"], out="runs/a")  # doctest: +SKIP
"""

from __future__ import annotations

from brittle.audit.budget import BUDGETS, Budget, get_budget
from brittle.audit.result import SCHEMA, AuditResult
from brittle.audit.run import SECTIONS, audit, write_outputs

__all__ = ["BUDGETS", "SCHEMA", "SECTIONS", "AuditResult", "Budget", "audit", "get_budget",
           "write_outputs"]
