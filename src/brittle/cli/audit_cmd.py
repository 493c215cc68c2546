"""``brittle audit``: every safety axis of a checkpoint in one run, results.json + report.html."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from brittle import models
from brittle._utils.atomic import ensure_writable_dir
from brittle._utils.devices import resolve_device
from brittle.audit import BUDGETS, SECTIONS, audit
from brittle.cli.args import add_common, positive_float, positive_int


def register(sub: Any) -> None:
    parser = sub.add_parser("audit", help="audit a checkpoint: accuracy, attacks, corruptions, "
                                          "OOD and calibration in one report")
    parser.add_argument("checkpoint", help="a .safetensors checkpoint written by brittle")
    parser.add_argument("--data", required=True, help="dataset name or folder:PATH")
    parser.add_argument("--ood", default="", help="comma-separated OOD dataset names "
                                                  "(synthetic noise sets are always added)")
    parser.add_argument("--budget", default="standard", choices=tuple(BUDGETS))
    parser.add_argument("--sections", help=f"comma-separated subset of {','.join(SECTIONS)}")
    parser.add_argument("--n", type=positive_int, help="audit a seeded subset of N test images")
    parser.add_argument("--eps", type=positive_float,
                        help="main Linf budget (default 0.3 grey, 8/255 colour)")
    parser.add_argument("--reference", help="reference checkpoint for the corruption error")
    add_common(parser)
    parser.set_defaults(run=run, out="runs/audit")


def run(args: argparse.Namespace) -> int:
    out = ensure_writable_dir(args.out)
    device = resolve_device(args.device)
    clf = models.load_classifier(args.checkpoint, map_location=device)
    reference = (models.load_classifier(args.reference, map_location=device)
                 if args.reference else None)
    result = audit(clf, args.data, ood=_names(args.ood),
                   sections=_names(args.sections) if args.sections else None,
                   budget=args.budget, n=args.n, seed=args.seed, out=out, eps=args.eps,
                   reference=reference, data_dir=args.data_dir, checkpoint=args.checkpoint,
                   show_progress=False if args.no_progress else None)
    print(result.summary())
    print(f"report: {Path(out) / 'report.html'}")
    return 0


def _names(text: str) -> list[str]:
    return [part.strip() for part in text.split(",") if part.strip()]
