"""``brittle models list``."""

from __future__ import annotations

import argparse
from typing import Any

from brittle import models


def register(sub: Any) -> None:
    parser = sub.add_parser("models", help="list the model zoo")
    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    actions.add_parser("list", help="registered architectures").set_defaults(run=run_list)


def run_list(args: argparse.Namespace) -> int:
    for name in models.names():
        params = sum(p.numel() for p in models.create(name).parameters())
        print(f"{name:<14} {params / 1e6:6.3f}M params  {models.MODELS.describe(name)}")
    return 0
