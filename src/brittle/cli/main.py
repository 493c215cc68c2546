"""Entry point of the ``brittle`` command: subcommands, logging, and one-line errors."""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence
from typing import NoReturn

from brittle._utils.allocator import retain_freed_memory
from brittle._version import __version__
from brittle.cli import (
    attack_cmd,
    audit_cmd,
    data_cmd,
    demo_cmd,
    eval_cmd,
    explain_cmd,
    models_cmd,
    report_cmd,
    suspects_cmd,
    train_cmd,
)
from brittle.errors import BrittleError

COMMANDS = (demo_cmd, data_cmd, models_cmd, train_cmd, eval_cmd, attack_cmd, audit_cmd,
            report_cmd, explain_cmd, suspects_cmd)


class OneLineParser(argparse.ArgumentParser):
    """An argument parser whose errors are one line and exit with status 2."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message} (see --help)\n")


def build_parser() -> argparse.ArgumentParser:
    parser = OneLineParser(prog="brittle", description="How and why your image classifier breaks.")
    parser.add_argument("--version", action="version", version=f"brittle {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="log debug details")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=OneLineParser)
    sub.required = True
    for command in COMMANDS:
        command.register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI; returns the process exit status (2 for bad input)."""
    args = build_parser().parse_args(argv)
    retain_freed_memory()  # this process is ours: reuse freed tensor buffers (see the module)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.WARNING,
                        format="%(levelname)s %(name)s: %(message)s")
    try:
        return int(args.run(args) or 0)
    except BrittleError as exc:
        print(f"brittle: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("brittle: interrupted", file=sys.stderr)
        return 130
