"""Faces that only read results: the self-contained HTML audit report and PNG figures.

Example:
    >>> from brittle.report import write_report
    >>> write_report("runs/audit/results.json", "runs/audit/report.html")  # doctest: +SKIP
"""

from brittle.report.render import load_result, render_html, write_report

__all__ = ["load_result", "render_html", "write_report"]
