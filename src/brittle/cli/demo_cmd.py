"""``brittle demo``: the whole audit on the embedded ``digits`` data, offline, in about a
minute: trains LeNet-5 first when there is no checkpoint yet, then writes the report."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from brittle import models
from brittle._utils.atomic import ensure_writable_dir
from brittle._utils.devices import resolve_device
from brittle.audit import BUDGETS, audit
from brittle.cli.args import add_common
from brittle.training import train


def register(sub: Any) -> None:
    parser = sub.add_parser("demo", help="train LeNet-5 on the embedded digits (once) and "
                                         "audit it: report.html in about a minute")
    parser.add_argument("--budget", default="quick", choices=tuple(BUDGETS))
    parser.add_argument("--ood", default="", help="comma-separated OOD dataset names besides "
                                                  "the synthetic ones (need their files)")
    add_common(parser)
    parser.set_defaults(run=run, out="runs/demo")


def run(args: argparse.Namespace) -> int:
    out = ensure_writable_dir(args.out)
    checkpoint = out / "model.safetensors"
    show = False if args.no_progress else None
    if checkpoint.exists():
        print(f"using the trained model {checkpoint}")
    else:
        outcome = train("lenet5", "digits", out=out, seed=args.seed, device=args.device,
                        epochs=20, batch_size=64, lr=0.05, show_progress=show)
        print(f"trained LeNet-5 on digits in {outcome.history.seconds:.1f}s: "
              f"{outcome.evaluation.accuracy}")
    clf = models.load_classifier(checkpoint, map_location=resolve_device(args.device))
    ood = [name.strip() for name in args.ood.split(",") if name.strip()]
    result = audit(clf, "digits", ood=ood, budget=args.budget, seed=args.seed,
                   out=out / "audit", data_dir=args.data_dir, checkpoint=str(checkpoint),
                   show_progress=show)
    print(result.summary())
    print(f"report: {Path(out) / 'audit' / 'report.html'}")
    return 0
