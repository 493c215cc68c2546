"""``brittle eval``: clean accuracy, per-class miss rates with 95% CIs, confusion matrix."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from brittle._utils.atomic import ensure_writable_dir, write_json
from brittle.cli.args import add_common, positive_int
from brittle.cli.loading import checkpoint_and_data
from brittle.evaluation import EvalResult, evaluate


def register(sub: Any) -> None:
    parser = sub.add_parser("eval", help="evaluate a checkpoint on a dataset")
    parser.add_argument("checkpoint", help="a .safetensors checkpoint written by brittle")
    parser.add_argument("--data", required=True, help="dataset name or folder:PATH")
    parser.add_argument("--split", default="test", choices=("train", "test"))
    parser.add_argument("--n", type=positive_int, help="evaluate a seeded subset of N images")
    parser.add_argument("--batch-size", type=positive_int, default=512)
    add_common(parser)
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    out = ensure_writable_dir(args.out) if args.out else None
    clf, dataset = checkpoint_and_data(args)
    result = evaluate(clf, dataset, batch_size=args.batch_size, seed=args.seed,
                      show_progress=False if args.no_progress else None)
    print(result.table())
    print(confusion_table(result))
    if out is not None:
        path = write_json(Path(out) / "eval.json", result.to_dict())
        print(f"results: {path}")
    return 0


def confusion_table(result: EvalResult) -> str:
    """The confusion matrix with true classes as rows and predictions as columns."""
    k = len(result.confusion)
    width = max(5, *(len(str(v)) for row in result.confusion for v in row)) + 1
    header = "true\\pred " + "".join(f"{j:>{width}}" for j in range(k))
    rows = [f"{i:>9} " + "".join(f"{v:>{width}}" for v in row)
            for i, row in enumerate(result.confusion)]
    return "\n".join([header, *rows])
