"""``brittle data list|verify|download``."""

from __future__ import annotations

import argparse
from typing import Any

from brittle import data


def register(sub: Any) -> None:
    parser = sub.add_parser("data", help="list, verify and download datasets")
    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    listing = actions.add_parser("list", help="registered datasets")
    listing.add_argument("--data-dir", help="dataset directory to report on")
    listing.set_defaults(run=run_list)
    for name, helptext, run in (("verify", "check files against their checksums", run_verify),
                                ("download", "fetch missing files, then verify", run_download)):
        action = actions.add_parser(name, help=helptext)
        action.add_argument("names", nargs="+", metavar="NAME")
        action.add_argument("--split", choices=("train", "test"), help="only this split")
        action.add_argument("--data-dir", help="dataset directory")
        action.set_defaults(run=run)


def run_list(args: argparse.Namespace) -> int:
    print(f"data dir: {data.resolve_data_dir(args.data_dir)}")
    for name in data.names():
        src = data.source(name)
        shape = "x".join(map(str, src.input_shape))
        print(f"{name:<14} {shape:<8} {len(src.class_names):>3} classes  {src.description}")
    print("folder:PATH    your own images in class sub-folders (PNG/JPEG)")
    return 0


def run_verify(args: argparse.Namespace) -> int:
    bad = 0
    for name in args.names:
        splits = [args.split] if args.split else None
        for status in data.verify(name, data_dir=args.data_dir, splits=splits):
            bad += status.status != "ok"
            print(f"{status.status:<8} {status.path}")
    return 1 if bad else 0


def run_download(args: argparse.Namespace) -> int:
    for name in args.names:
        splits = [args.split] if args.split else None
        for path in data.download(name, data_dir=args.data_dir, splits=splits):
            print(f"ok       {path}")
    return 0
