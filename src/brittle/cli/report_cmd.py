"""``brittle report``: re-render report.html from results.json alone (no model needed)."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from brittle.report import write_report


def register(sub: Any) -> None:
    parser = sub.add_parser("report", help="render report.html from an audit's results.json")
    parser.add_argument("results", help="results.json written by brittle audit")
    parser.add_argument("--out", help="output HTML file (default: report.html beside the JSON)")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    out = Path(args.out) if args.out else Path(args.results).with_name("report.html")
    print(f"report: {write_report(args.results, out)}")
    return 0
