"""``brittle train``: train a zoo model with a recipe and save a safetensors checkpoint."""

from __future__ import annotations

import argparse
from typing import Any

from brittle import recipes
from brittle.cli.args import add_common, nonneg_float, nonneg_int, positive_float, positive_int
from brittle.recipes.adversarial import STARTS
from brittle.recipes.base import EpochStats
from brittle.training import train


def register(sub: Any) -> None:
    parser = sub.add_parser("train", help="train a model and save a checkpoint")
    parser.add_argument("--model", required=True, help="architecture (see `brittle models list`)")
    parser.add_argument("--data", required=True, help="dataset name or folder:PATH")
    parser.add_argument("--recipe", default="standard",
                        help=f"training recipe: {', '.join(recipes.names())}")
    parser.add_argument("--epochs", type=positive_int)
    parser.add_argument("--batch-size", type=positive_int)
    parser.add_argument("--optimizer", choices=("sgd", "adam"))
    parser.add_argument("--lr", type=positive_float)
    parser.add_argument("--momentum", type=nonneg_float)
    parser.add_argument("--weight-decay", type=nonneg_float)
    parser.add_argument("--schedule", choices=("onecycle", "cosine", "constant"))
    parser.add_argument("--eps", type=positive_float, help="adversarial recipes: Linf budget")
    parser.add_argument("--eps-warmup", type=nonneg_int,
                        help="adversarial recipes: epochs over which eps ramps up")
    parser.add_argument("--steps", type=positive_int,
                        help="adversarial recipes: attack steps per batch (pgd-at: 40)")
    parser.add_argument("--step-size", type=positive_float,
                        help="adversarial recipes: attack step size (fast-at: 1.25 eps, or "
                             "eps from the prior start)")
    parser.add_argument("--start", choices=STARTS,
                        help="adversarial recipes: each attack starts from uniform noise or "
                             "from the sample's perturbation of the previous epoch")
    parser.add_argument("--n", type=positive_int, help="train on a seeded subset of N images")
    add_common(parser)
    parser.set_defaults(run=run, out="runs/train")


def run(args: argparse.Namespace) -> int:
    names = ("epochs", "batch_size", "optimizer", "lr", "momentum", "weight_decay", "schedule",
             "eps", "eps_warmup", "steps", "step_size", "start")
    settings = {k: getattr(args, k) for k in names if getattr(args, k) is not None}
    outcome = train(args.model, args.data, recipe=args.recipe, out=args.out,
                    data_dir=args.data_dir, n_train=args.n, seed=args.seed, device=args.device,
                    show_progress=False if args.no_progress else None, on_epoch=print_epoch,
                    **settings)
    print(f"test accuracy {outcome.evaluation.accuracy}")
    print(f"checkpoint: {outcome.checkpoint}")
    return 0


def print_epoch(e: EpochStats) -> None:
    print(f"epoch {e.epoch:>3}  loss {e.loss:.4f}  train acc {100 * e.accuracy:6.2f}%  "
          f"{e.images_per_s:8.0f} img/s  {e.seconds:6.1f}s", flush=True)
