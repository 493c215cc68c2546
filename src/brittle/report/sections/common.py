"""The parts of the report around the sections: title, findings, contents, footer, fallbacks."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from brittle.report.html import badge, esc, lead, table


def class_names(result: Mapping[str, Any]) -> list[str]:
    """The model's class names (``[]`` when the results do not record them)."""
    names = (result.get("model") or {}).get("class_names") or []
    return [str(n) for n in names]


def class_label(names: Sequence[str], index: object) -> str:
    """``names[index]`` when known, else the index itself, as plain (unescaped) text."""
    if isinstance(index, int) and 0 <= index < len(names):
        return names[index]
    return str(index)


def header(result: Mapping[str, Any]) -> str:
    """The page title and one line of who/what/when."""
    model, data = result.get("model") or {}, result.get("data") or {}
    run, budget = result.get("run") or {}, result.get("budget") or {}
    arch = model.get("architecture", "model")
    params = model.get("parameters")
    facts = [
        ("model", f"{arch}" + (f" ({params:,} parameters)" if isinstance(params, int) else "")),
        ("data", " ".join(str(x) for x in (data.get("name"), data.get("split")) if x)
         + (f", n={data['n']}" if data.get("n") is not None else "")),
        ("budget", budget.get("name", run.get("budget", "?"))),
        ("seed", run.get("seed", "?")),
        ("date", run.get("started", "?")),
    ]
    line = " · ".join(f"{esc(k)} <b>{esc(v)}</b>" for k, v in facts)
    title = f"Robustness audit: {arch} on {data.get('name', '?')}"
    return f'<header><h1>{esc(title)}</h1><p class="meta">{line}</p></header>'


def findings(items: Sequence[Mapping[str, Any]], known_ids: set[str]) -> str:
    """The findings list; each links to its evidence (its anchor, else its section)."""
    body = [lead("What breaks first, most important first; each finding links to its evidence "
                 "further down.")]
    if not items:
        body.append('<p class="note">The audit recorded no findings.</p>')
    rows = []
    for item in items:
        target = next((a for a in (item.get("anchor"), item.get("section"))
                       if isinstance(a, str) and a in known_ids), None)
        title = esc(item.get("title", ""))
        if target:
            title = f'<a href="#{esc(target)}">{title}</a>'
        more = f' <a class="note" href="#{esc(target)}">evidence &rarr;</a>' if target else ""
        rows.append(f'<li>{badge(item.get("severity", "?"))}<div><span class="title">{title}'
                    f"</span><br>{esc(item.get('text', ''))}{more}</div></li>")
    if rows:
        body.append(f'<ul class="findings">{"".join(rows)}</ul>')
    return f'<section class="card" id="findings"><h2>Findings</h2>{"".join(body)}</section>'


def contents(entries: Sequence[tuple[str, str, Sequence[tuple[str, str]]]]) -> str:
    """Table of contents: ``(anchor, title, [(sub_anchor, sub_title), ...])`` per section."""
    items = []
    for anchor, title, subs in entries:
        inner = "".join(f'<li><a href="#{esc(a)}">{esc(t)}</a></li>' for a, t in subs)
        items.append(f'<li><a href="#{esc(anchor)}">{esc(title)}</a>'
                     + (f"<ol>{inner}</ol>" if inner else "") + "</li>")
    return f'<nav class="toc card"><h2>Contents</h2><ol>{"".join(items)}</ol></nav>'


def skipped(reason: object) -> str:
    return f'<p class="skipped">Skipped: {esc(reason)}</p>'


def unknown(name: str, data: object) -> str:
    """A section this version does not know: its raw data, folded away."""
    dump = json.dumps(data, indent=2, sort_keys=True, default=str)
    return (lead(f"This version of the report has no layout for the '{name}' section; its raw "
                 "results follow.")
            + f"<details><summary>raw results ({len(dump):,} characters)</summary>"
            f"<pre>{esc(dump)}</pre></details>")


def footer(result: Mapping[str, Any]) -> str:
    """Run metadata: schema, device, command, versions and time per section."""
    run = result.get("run") or {}
    facts: list[list[str]] = [["schema", esc(result.get("schema", "?"))]]
    for key in ("started", "device", "seed", "budget"):
        if run.get(key) is not None:
            facts.append([key, esc(run[key])])
    checkpoint = (result.get("model") or {}).get("checkpoint")
    if checkpoint:
        facts.append(["checkpoint", esc(checkpoint)])
    versions = [[esc(k), esc(v)] for k, v in (run.get("versions") or {}).items()]
    times = [[esc(k), esc(_seconds(v))] for k, v in (run.get("seconds") or {}).items()]
    if run.get("seconds_total") is not None:
        times.append(["<b>total</b>", f"<b>{esc(_seconds(run['seconds_total']))}</b>"])
    tables = [table(["run", ""], facts)]
    tables += [table(["version", ""], versions)] if versions else []
    tables += [table(["time", ""], times, numeric=[1])] if times else []
    command = (f'<p>Command: <code>{esc(run["command"])}</code></p>' if run.get("command")
               else "")
    return (f'<footer class="card" id="run"><h2>Run</h2><div class="figs">{"".join(tables)}'
            f"</div>{command}<p>Rates are shown as value [95% Wilson interval] n=sample size. "
            "This page was rendered from the results JSON alone; it is self-contained and works "
            "offline.</p></footer>")


def _seconds(value: object) -> str:
    return f"{value:.1f} s" if isinstance(value, int | float) else str(value)
