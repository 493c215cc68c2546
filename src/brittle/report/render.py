"""Render an audit's results JSON (schema ``brittle.audit/1``) as one self-contained HTML page.

The page is built from the JSON alone, so ``brittle report results.json`` re-renders a report
without the model or the data. Findings come first, then the evidence section by section, then
the run metadata. CSS is inline, figures and example images are embedded as PNG ``data:`` URIs,
and there are no scripts or external resources: the file works offline and can be mailed.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from pathlib import Path
from types import ModuleType
from typing import Any

from brittle._utils.atomic import atomic_path
from brittle.errors import BrittleError
from brittle.report.html import esc, lead, page
from brittle.report.sections import (
    accuracy,
    adversarial,
    calibration,
    common,
    corruptions,
    diagnose,
    explain,
    ood,
)

SCHEMA_PREFIX = "brittle.audit/"
#: Known sections in page order; any other section is shown as raw JSON after them.
SECTIONS: dict[str, ModuleType] = {"accuracy": accuracy, "adversarial": adversarial,
                                   "corruptions": corruptions, "ood": ood,
                                   "calibration": calibration, "explain": explain,
                                   "diagnose": diagnose}
_IDS = re.compile(r'\sid="([^"]+)"')


def render_html(result: Mapping[str, Any]) -> str:
    """The whole report as one HTML string; the same results always give the same page.

    Args:
        result: A results dict of schema ``brittle.audit/...`` (as written by ``brittle audit``).

    Returns:
        A complete, self-contained HTML document.

    Raises:
        BrittleError: ``result`` is not an audit result.

    Example:
        >>> page = render_html({"schema": "brittle.audit/1", "sections": {}})
        >>> page.startswith("<!DOCTYPE html>") and "http" not in page
        True
    """
    check_result(result)
    sections = result.get("sections") or {}
    names = [n for n in SECTIONS if n in sections] + [n for n in sections if n not in SECTIONS]
    blocks, toc = [], []
    for name in names:
        module = SECTIONS.get(name)
        title = module.TITLE if module else name.replace("_", " ").capitalize()
        data = sections[name]
        if isinstance(data, Mapping) and "skipped" in data:
            body = common.skipped(data["skipped"])
            subs = []
        elif module is not None and isinstance(data, Mapping):
            body = lead(module.LEAD) + module.render(data, result)
            subs = module.ANCHORS
        else:
            body = common.unknown(name, data)
            subs = []
        toc.append((name, title, [(a, t) for a, t in subs if f'id="{a}"' in body]))
        blocks.append(f'<section class="card" id="{esc(name)}"><h2>{esc(title)}</h2>{body}'
                      "</section>")
    evidence = "\n".join(blocks)
    known = set(_IDS.findall(evidence))
    parts = [common.header(result), common.findings(result.get("findings") or [], known),
             common.contents(toc), evidence, common.footer(result)]
    model = (result.get("model") or {}).get("architecture", "model")
    data_name = (result.get("data") or {}).get("name", "data")
    return page(f"brittle audit: {model} on {data_name}", "\n".join(parts))


def write_report(result_or_path: Mapping[str, Any] | str | Path, out_html: str | Path) -> Path:
    """Render a results dict, or a ``results.json`` file, to ``out_html`` (written atomically).

    Raises:
        BrittleError: The file is missing, not JSON, or not an audit result (one line).

    Example:
        >>> write_report("runs/m/results.json", "runs/m/report.html")  # doctest: +SKIP
        PosixPath('runs/m/report.html')
    """
    result = (load_result(result_or_path) if isinstance(result_or_path, str | Path)
              else result_or_path)
    with atomic_path(out_html) as tmp:
        tmp.write_text(render_html(result), encoding="utf-8")
    return Path(out_html)


def load_result(path: str | Path) -> dict[str, Any]:
    """Read and check an audit ``results.json``; any problem is a one-line :class:`BrittleError`."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else "unreadable"
        raise BrittleError(f"cannot read results file {path}: {reason}") from None
    try:
        result = json.loads(text)
    except json.JSONDecodeError as exc:
        raise BrittleError(f"{path} is not JSON ({exc.msg} at line {exc.lineno}); expected "
                           "the results.json written by brittle audit") from None
    check_result(result, source=str(path))
    return dict(result)


def check_result(result: object, *, source: str = "results") -> None:
    """Raise :class:`BrittleError` unless ``result`` is a dict with a ``brittle.audit/`` schema."""
    if not isinstance(result, Mapping):
        raise BrittleError(f"{source} is not a JSON object; expected the results of brittle audit")
    schema = result.get("schema")
    if not isinstance(schema, str) or not schema.startswith(SCHEMA_PREFIX):
        found = "no schema" if schema is None else f"schema {str(schema)[:60]!r}"
        raise BrittleError(f"{source} has {found}; expected {SCHEMA_PREFIX}N "
                           "(the results.json written by brittle audit)")
    if not isinstance(result.get("sections", {}), Mapping):
        raise BrittleError(f"{source}: 'sections' must be a JSON object")
