"""HTML building blocks of the audit report: escaping, rate formatting, tables, images, the page.

Everything here returns strings. Every value that comes from the results JSON goes through
:func:`esc` before it reaches the page, and images are only ever embedded as ``data:`` URIs, so
the page never references anything outside itself.
"""

from __future__ import annotations

import html
import math
import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

#: Rows highlighted as the worst in per-class tables.
WORST = 3
#: Tables longer than this many rows fold the rest into a ``<details>`` block.
SHOWN = 15
#: Base64 alphabet (with padding and line breaks); anything else is refused as an image.
_BASE64 = re.compile(r"^[A-Za-z0-9+/=\s]+$")

CSS = """
:root { --fg: #1d232b; --muted: #5b6573; --line: #d9dee5; --bg: #f5f7fa; --card: #fff;
  --accent: #2456a6; --high: #b3261e; --medium: #a15c00; --low: #2f6f3e; --worst: #fdecea; }
* { box-sizing: border-box; }
body { margin: 0; background: var(--bg); color: var(--fg); line-height: 1.45;
  font: 15px/1.45 -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif; }
main { max-width: 1120px; margin: 0 auto; padding: 24px 28px 48px; }
h1 { font-size: 26px; margin: 8px 0 4px; }
h2 { font-size: 21px; margin: 0 0 6px; padding-bottom: 6px; border-bottom: 2px solid var(--line); }
h3 { font-size: 16px; margin: 22px 0 8px; }
a { color: var(--accent); text-decoration: none; } a:hover { text-decoration: underline; }
.meta { color: var(--muted); margin: 0 0 18px; }
.meta b { color: var(--fg); font-weight: 600; }
.card { background: var(--card); border: 1px solid var(--line); border-radius: 8px;
  padding: 18px 22px; margin: 18px 0; overflow-x: auto; }
.lead { color: var(--muted); margin: 2px 0 12px; font-style: italic; }
.findings { list-style: none; padding: 0; margin: 0; }
.findings li { display: flex; gap: 12px; align-items: baseline; padding: 9px 0;
  border-bottom: 1px solid var(--line); }
.findings li:last-child { border-bottom: 0; }
.findings .title { font-weight: 600; }
.badge { display: inline-block; min-width: 62px; text-align: center; border-radius: 10px;
  padding: 1px 8px; font-size: 12px; font-weight: 700; text-transform: uppercase; color: #fff;
  background: var(--muted); flex: none; }
.badge.high, .badge.fail { background: var(--high); }
.badge.medium, .badge.warning { background: var(--medium); }
.badge.low, .badge.ok { background: var(--low); }
nav.toc ol { margin: 4px 0; padding-left: 22px; columns: 2; }
nav.toc ol ol { columns: 1; font-size: 14px; }
nav.toc ol > li { break-inside: avoid; }
table { border-collapse: collapse; margin: 6px 0 12px; font-size: 14px; }
th, td { padding: 4px 10px; border-bottom: 1px solid var(--line); text-align: left;
  vertical-align: top; }
th { background: #eef1f5; font-weight: 600; white-space: nowrap; }
th.sorted::after { content: " \\25BC"; font-size: 10px; color: var(--muted); }
td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; }
tr.worst td { background: var(--worst); }
.ci { color: var(--muted); font-size: 12px; white-space: nowrap; }
.rate { white-space: nowrap; }
.bar { display: inline-block; height: 9px; background: var(--high); opacity: .7;
  border-radius: 2px; vertical-align: middle; margin-right: 6px; }
.figs { display: flex; flex-wrap: wrap; gap: 12px; align-items: flex-start; }
.figs table { margin: 0; }
img.plot { max-width: 100%; height: auto; border: 1px solid var(--line); border-radius: 4px; }
img.px { image-rendering: pixelated; width: 56px; height: 56px; border: 1px solid var(--line);
  background: #000; }
figure.ex { display: inline-block; margin: 0 8px 8px 0; text-align: center; font-size: 12px;
  color: var(--muted); vertical-align: top; }
figure.ex figcaption { max-width: 84px; }
.triple { display: inline-flex; gap: 4px; margin: 0 14px 14px 0; padding: 6px;
  border: 1px solid var(--line); border-radius: 6px; }
.skipped { color: var(--medium); font-weight: 600; }
.note { color: var(--muted); font-size: 13px; }
details { margin: 8px 0; } summary { cursor: pointer; color: var(--accent); }
pre { background: #f0f2f5; padding: 10px; overflow-x: auto; font-size: 12px; max-height: 480px; }
footer { color: var(--muted); font-size: 13px; }
footer table { font-size: 13px; }
th.group { text-align: center; border-left: 2px solid var(--line); }
td.first, th.first { border-left: 2px solid var(--line); }
.kpis { display: flex; flex-wrap: wrap; gap: 10px 28px; margin: 6px 0 10px; }
.kpi .label { color: var(--muted); font-size: 12px; text-transform: uppercase; }
.kpi .value { font-size: 18px; font-weight: 600; }
"""


def esc(value: object) -> str:
    """``value`` as text, HTML-escaped (quotes included, so it is safe inside attributes)."""
    return html.escape(str(value), quote=True)


def pct(value: float | None, digits: int = 1) -> str:
    """``0.9712`` -> ``97.1%``; ``None`` or NaN -> ``n/a``."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "n/a"
    return f"{100 * float(value):.{digits}f}%"


def num(value: float | None, digits: int = 3) -> str:
    """A plain number with ``digits`` decimals; ``None`` or NaN -> ``n/a``."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "n/a"
    return f"{float(value):.{digits}f}"


def fmt_rate(rate: Mapping[str, Any] | None) -> str:
    """A schema ``Rate`` as plain text: ``97.1% [96.8, 97.4] n=10000``.

    Example:
        >>> fmt_rate({"k": 9712, "n": 10000, "value": 0.9712, "low": 0.968, "high": 0.974})
        '97.1% [96.8, 97.4] n=10000'
    """
    if not rate or not rate.get("n"):
        return "n/a"
    return (f"{pct(rate['value'])} [{100 * float(rate['low']):.1f}, "
            f"{100 * float(rate['high']):.1f}] n={int(rate['n'])}")


def rate_html(rate: Mapping[str, Any] | None, *, stacked: bool = False) -> str:
    """:func:`fmt_rate` as HTML: the value stands out, the interval and n are set in grey.

    ``stacked`` puts the interval on a second line (for narrow table cells).
    """
    text = fmt_rate(rate)
    if text == "n/a":
        return '<span class="rate">n/a</span>'
    value, rest = text.split(" ", 1)
    gap = " <br>" if stacked else " "
    return f'<span class="rate">{esc(value)}{gap}<span class="ci">{esc(rest)}</span></span>'


def rate_value(rate: Mapping[str, Any] | None) -> float | None:
    """The value of a schema ``Rate``, or ``None`` when it is missing or has ``n == 0``."""
    return float(rate["value"]) if rate and rate.get("n") else None


def badge(severity: object) -> str:
    """A coloured severity badge (high/medium/low, or a check's fail/warning/ok)."""
    word = str(severity).lower()
    css = word if word in {"high", "medium", "low", "fail", "warning", "ok"} else "other"
    return f'<span class="badge {css}">{esc(word)}</span>'


def table(headers: Sequence[str], rows: Iterable[Sequence[str]], *, numeric: Iterable[int] = (),
          sorted_col: int | None = None, row_classes: Sequence[str] | None = None) -> str:
    """A static table; cells are trusted HTML (escape them first), headers are escaped here.

    ``numeric`` columns are right-aligned; ``sorted_col`` gets a sort arrow to say how the rows
    are ordered; ``row_classes`` adds a class per row (e.g. ``worst`` to highlight it).
    """
    right = set(numeric)
    head = "".join(
        f'<th class="{"num " if i in right else ""}{"sorted" if i == sorted_col else ""}">'
        f"{esc(h)}</th>" for i, h in enumerate(headers))
    body = []
    for r, row in enumerate(rows):
        css = row_classes[r] if row_classes and r < len(row_classes) else ""
        cells = "".join(f'<td class="num">{c}</td>' if i in right else f"<td>{c}</td>"
                        for i, c in enumerate(row))
        body.append(f'<tr class="{css}">{cells}</tr>' if css else f"<tr>{cells}</tr>")
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"


def worst_rows(values: Sequence[float | None], count: int = WORST) -> list[str]:
    """``worst`` for the first ``count`` rows with a positive value (rows sorted worst first)."""
    marks, left = [], count
    for value in values:
        flag = left > 0 and value is not None and value > 0
        marks.append("worst" if flag else "")
        left -= flag
    return marks


def folded(headers: Sequence[str], rows: Sequence[Sequence[str]], marks: Sequence[str], *,
           numeric: Sequence[int], sorted_col: int) -> str:
    """A table of the first :data:`SHOWN` rows; the rest in a ``<details>`` block below it."""
    head = table(headers, rows[:SHOWN], numeric=numeric, sorted_col=sorted_col,
                 row_classes=marks[:SHOWN])
    if len(rows) <= SHOWN:
        return head
    rest = table(headers, rows[SHOWN:], numeric=numeric, sorted_col=sorted_col,
                 row_classes=marks[SHOWN:])
    return head + f"<details><summary>{len(rows) - SHOWN} more classes</summary>{rest}</details>"


def png_img(b64: object, alt: str, *, css: str = "px", title: str | None = None) -> str:
    """An ``<img>`` embedding a base64 PNG from the JSON; malformed data gives a placeholder."""
    if not isinstance(b64, str) or not _BASE64.match(b64):
        return f'<span class="note">[no image: {esc(alt)}]</span>'
    tip = f' title="{esc(title)}"' if title else ""
    return (f'<img class="{css}" alt="{esc(alt)}"{tip} '
            f'src="data:image/png;base64,{"".join(b64.split())}">')


def plot_img(data_uri: str | None, alt: str) -> str:
    """An ``<img>`` for a figure from :mod:`brittle.report.plots` (already a data URI)."""
    if not data_uri:
        return ""
    return f'<img class="plot" alt="{esc(alt)}" src="{data_uri}">'


def heading(level: int, anchor: str, text: str) -> str:
    """A heading with an ``id`` that findings and the table of contents link to."""
    return f'<h{level} id="{esc(anchor)}">{esc(text)}</h{level}>'


def lead(text: str) -> str:
    """The one sentence under a section title that says what it measures and how to read it."""
    return f'<p class="lead">{esc(text)}</p>'


def kpis(items: Iterable[tuple[str, str]]) -> str:
    """A row of headline numbers; labels are escaped, values are trusted HTML."""
    cells = "".join(f'<div class="kpi"><div class="label">{esc(label)}</div>'
                    f'<div class="value">{value}</div></div>' for label, value in items)
    return f'<div class="kpis">{cells}</div>'


def page(title: str, body: str) -> str:
    """The whole document: inline CSS, no scripts, no external resources."""
    return ("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
            '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
            f"<title>{esc(title)}</title>\n<style>{CSS}</style>\n</head>\n"
            f"<body>\n<main>\n{body}\n</main>\n</body>\n</html>\n")
