"""``brittle demo``: the main job on the embedded ``digits`` data, offline, in seconds."""

from __future__ import annotations

import argparse
from typing import Any

from brittle.cli.args import add_common
from brittle.cli.eval_cmd import confusion_table
from brittle.training import train


def register(sub: Any) -> None:
    parser = sub.add_parser("demo", help="train LeNet-5 on the embedded digits and evaluate it")
    add_common(parser)
    parser.set_defaults(run=run, out="runs/demo")


def run(args: argparse.Namespace) -> int:
    outcome = train("lenet5", "digits", out=args.out, seed=args.seed, device=args.device,
                    epochs=20, batch_size=64, lr=0.05,
                    show_progress=False if args.no_progress else None)
    print(outcome.evaluation.table())
    print(confusion_table(outcome.evaluation))
    print(f"trained in {outcome.history.seconds:.1f}s; results in {args.out}/ "
          f"(model.safetensors, train.json)")
    return 0
