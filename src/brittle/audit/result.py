"""``AuditResult``: the versioned, JSON-serializable outcome of one audit."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from brittle._utils.atomic import atomic_path
from brittle.errors import BrittleError

SCHEMA = "brittle.audit/1"


@dataclass
class AuditResult:
    """Everything an audit measured; ``results.json`` is :meth:`to_dict` verbatim.

    Attributes:
        run: Seed, budget name, versions, device, start time, seconds per section.
        model: Architecture, parameter count, input shape, classes, card.
        data: The audited dataset, split and sample sizes.
        budget: The budget's sample sizes and attack strength.
        findings: The ranked plain-words findings that open the report.
        sections: Section name -> its results (see ``docs/audit.md`` for the schema).
        schema: ``brittle.audit/1``.

    Example:
        >>> r = AuditResult(run={}, model={}, data={}, budget={}, findings=[], sections={})
        >>> AuditResult.from_dict(json.loads(json.dumps(r.to_dict()))) == r
        True
    """

    run: dict[str, Any]
    model: dict[str, Any]
    data: dict[str, Any]
    budget: dict[str, Any]
    findings: list[dict[str, Any]]
    sections: dict[str, Any]
    schema: str = field(default=SCHEMA)

    def to_dict(self) -> dict[str, Any]:
        """A plain dict; non-finite floats (undefined statistics) become ``None``."""
        return _finite({"schema": self.schema, "run": self.run, "model": self.model,
                        "data": self.data, "budget": self.budget, "findings": self.findings,
                        "sections": self.sections})

    @classmethod
    def from_dict(cls, payload: dict[str, Any]) -> AuditResult:
        schema = payload.get("schema") if isinstance(payload, dict) else None
        if not isinstance(schema, str) or not schema.startswith("brittle.audit/"):
            raise BrittleError(f"not a brittle audit result (schema {schema!r})")
        keys = ("run", "model", "data", "budget", "findings", "sections")
        missing = [k for k in keys if k not in payload]
        if missing:
            raise BrittleError(f"audit result lacks {', '.join(missing)}")
        return cls(**{k: payload[k] for k in keys}, schema=schema)

    def save(self, path: str | Path) -> Path:
        """Write ``results.json`` atomically (a crash never leaves half a file)."""
        text = json.dumps(self.to_dict(), indent=1, allow_nan=False)
        with atomic_path(path) as tmp:
            tmp.write_text(text + "\n", encoding="utf-8")
        return Path(path)

    @classmethod
    def load(cls, path: str | Path) -> AuditResult:
        try:
            payload = json.loads(Path(path).read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise BrittleError(f"no such results file: {path}") from None
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise BrittleError(f"cannot read {path} as JSON: {exc}") from None
        return cls.from_dict(payload)

    def summary(self) -> str:
        """A few lines for the terminal: headline numbers, then the findings."""
        lines = [f"audit of {self.model.get('architecture', 'model')} on "
                 f"{self.data.get('name')} ({self.data.get('n')} images, budget "
                 f"{self.run.get('budget')}, seed {self.run.get('seed')}, "
                 f"{self.run.get('seconds_total', 0):.0f}s)"]
        for name, seconds in self.run.get("seconds", {}).items():
            lines.append(f"  {name:<12} {seconds:7.1f}s")
        lines.append("findings:")
        lines += [f"  [{f['severity']}] {f['text']}" for f in self.findings] or ["  none"]
        return "\n".join(lines)


def _finite(value: Any) -> Any:
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite(v) for v in value]
    return value
