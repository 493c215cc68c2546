"""``brittle suspects``: rank the examples whose labels a model's out-of-sample predictions
argue against (confident learning), and write the list, the noise estimates and a gallery."""

from __future__ import annotations

import argparse
import csv
import io
import logging
import time
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
import torch

from brittle import data
from brittle._utils.atomic import atomic_path, ensure_writable_dir, write_json
from brittle._utils.devices import resolve_device
from brittle.cli.args import add_common, positive_int
from brittle.cli.loading import checkpoint_and_data
from brittle.data.base import ImageDataset
from brittle.diagnose.crossval import out_of_sample_probabilities
from brittle.diagnose.suspects import (
    METHODS,
    RANK_BY,
    SuspectReport,
    find_suspects,
    probabilities_from_model,
)
from brittle.errors import BrittleError
from brittle.types import SCHEMA_VERSION, RunInfo

log = logging.getLogger(__name__)
CSV_COLUMNS = ("rank", "index", "given", "given_name", "predicted", "predicted_name", "score",
               "p_given", "p_predicted")
NPZ_KEYS = ("probabilities", "pred_probs")


def register(sub: Any) -> None:
    parser = sub.add_parser(
        "suspects", help="rank examples whose labels the model argues against (label suspects)",
        description="Probabilities come from --probabilities, from --checkpoint (data the "
                    "model never trained on), or else from K-fold cross-training.")
    parser.add_argument("--data", required=True, help="dataset name or folder:PATH")
    parser.add_argument("--split", default="train", choices=("train", "test"))
    parser.add_argument("--n", type=positive_int, help="examine a seeded subset of N images")
    source = parser.add_mutually_exclusive_group()
    source.add_argument("--probabilities", metavar="FILE",
                        help="out-of-sample probabilities (N, K) as .npy or .npz (no pickles)")
    source.add_argument("--checkpoint", help="a brittle checkpoint that never trained on the "
                                             "examined split (e.g. for --split test)")
    parser.add_argument("--folds", type=positive_int, default=5,
                        help="cross-training folds (default 5)")
    parser.add_argument("--arch", default="lenet5", help="architecture for cross-training")
    parser.add_argument("--recipe", default="standard", help="recipe for cross-training")
    parser.add_argument("--epochs", type=positive_int, default=3,
                        help="epochs per cross-training fold (default 3)")
    parser.add_argument("--method", choices=METHODS, default="prune_by_noise_rate")
    parser.add_argument("--rank-by", choices=RANK_BY, default="self_confidence")
    parser.add_argument("--ambiguous-by", choices=("margin", "entropy"), default="margin")
    parser.add_argument("--top", type=positive_int,
                        help="list only the N most suspicious (default all)")
    parser.add_argument("--gallery", type=positive_int, default=32,
                        help="suspects shown in gallery.png (default 32)")
    parser.add_argument("--batch-size", type=positive_int, default=512)
    add_common(parser)
    parser.set_defaults(run=run, out="runs/suspects")


def run(args: argparse.Namespace) -> int:
    out = ensure_writable_dir(args.out)
    show = False if args.no_progress else None
    info = RunInfo(seed=args.seed, device=str(resolve_device(args.device)))
    start = time.perf_counter()
    dataset, probabilities, origin = _probabilities(args, show)
    info.seconds["probabilities"] = time.perf_counter() - start
    start = time.perf_counter()
    report = find_suspects(probabilities, dataset.labels, method=args.method,
                           rank_by=args.rank_by, class_names=dataset.class_names,
                           ambiguous_by=args.ambiguous_by)
    info.seconds["find_suspects"] = time.perf_counter() - start
    if origin["kind"] != "file":
        _write_npy(out / "probabilities.npy", probabilities.numpy())
    _write_csv(out / "suspects.csv", report.rows(args.top))
    from brittle.diagnose.gallery import suspect_gallery

    x, _ = dataset.tensors()
    suspect_gallery(report, x, out / "gallery.png", count=args.gallery)
    write_json(out / "suspects.json", {
        "schema": "brittle.suspects", "schema_version": SCHEMA_VERSION,
        "dataset": dataset.name, "split": dataset.split, "n": len(dataset),
        "probabilities": origin, **report.to_dict(args.top), "run": info.to_dict()})
    _print_summary(report, dataset, origin)
    extra = "" if origin["kind"] == "file" else ", probabilities.npy"
    print(f"results: {out}/ (suspects.csv, suspects.json, gallery.png{extra})")
    return 0


def _probabilities(args: argparse.Namespace, show: bool | None,
                   ) -> tuple[ImageDataset, torch.Tensor, dict[str, Any]]:
    """The examined dataset, its out-of-sample probabilities and where they came from."""
    if args.checkpoint:
        clf, dataset = checkpoint_and_data(args)
        probs = probabilities_from_model(clf, dataset, batch_size=args.batch_size)
        card = clf.card or {}
        if card.get("dataset") == args.data and args.split == "train":
            log.warning("the checkpoint was trained on %s; its probabilities on the train split "
                        "are in-sample and hide suspects", args.data)
        return dataset, probs, {"kind": "checkpoint", "checkpoint": str(args.checkpoint)}
    dataset = data.load(args.data, args.split, data_dir=args.data_dir)
    if args.n is not None:
        dataset = dataset.subset(args.n, seed=args.seed)
    if args.probabilities:
        probs = load_probabilities(args.probabilities)
        if probs.shape[0] != len(dataset):
            raise BrittleError(f"{args.probabilities} has {probs.shape[0]} rows but the "
                               f"{dataset.name} {dataset.split} split examined has "
                               f"{len(dataset)} images")
        return dataset, probs, {"kind": "file", "path": str(args.probabilities)}
    probs = out_of_sample_probabilities(
        dataset, arch=args.arch, recipe=args.recipe, folds=args.folds, epochs=args.epochs,
        seed=args.seed, device=args.device, show_progress=show,
        eval_batch_size=args.batch_size)
    return dataset, probs, {"kind": "cross-validation", "folds": args.folds, "arch": args.arch,
                            "recipe": args.recipe, "epochs": args.epochs}


def load_probabilities(path: str | Path) -> torch.Tensor:
    """A probability matrix from ``.npy`` or ``.npz`` (key ``probabilities``, ``pred_probs`` or
    its only array), never unpickling anything."""
    file = Path(path)
    if not file.is_file():
        raise BrittleError(f"probabilities file {file} not found")
    try:
        loaded = np.load(file, allow_pickle=False)
        if isinstance(loaded, np.lib.npyio.NpzFile):
            with loaded:
                array = _npz_array(file, loaded)
        else:
            array = np.asarray(loaded)
    except (ValueError, OSError, EOFError, zipfile.BadZipFile) as exc:
        message = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise BrittleError(f"cannot read probabilities from {file} as .npy/.npz: "
                           f"{message}") from None
    if array.dtype.kind not in "fiu":
        raise BrittleError(f"{file} holds {array.dtype} values, expected probabilities")
    return torch.from_numpy(np.ascontiguousarray(array, dtype=np.float64))


def _npz_array(file: Path, archive: Any) -> np.ndarray:
    names = list(archive.files)
    for key in NPZ_KEYS:
        if key in names:
            return np.asarray(archive[key])
    if len(names) == 1:
        return np.asarray(archive[names[0]])
    raise BrittleError(f"{file} holds arrays {names}; name the probabilities "
                       f"'{NPZ_KEYS[0]}'")


def _write_npy(path: Path, array: np.ndarray) -> None:
    buffer = io.BytesIO()
    np.save(buffer, array, allow_pickle=False)
    with atomic_path(path) as tmp:
        tmp.write_bytes(buffer.getvalue())


def _write_csv(path: Path, rows: list[dict[str, Any]]) -> None:
    text = io.StringIO()
    writer = csv.DictWriter(text, fieldnames=CSV_COLUMNS, lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: f"{v:.6f}" if isinstance(v, float) else v for k, v in row.items()})
    with atomic_path(path) as tmp:
        tmp.write_text(text.getvalue(), encoding="utf-8")


def _print_summary(report: SuspectReport, dataset: ImageDataset, origin: dict[str, Any]) -> None:
    print(f"{dataset.name} {dataset.split} (n={report.n}, probabilities from {origin['kind']}): "
          f"{len(report)} label suspects ({report.method}); estimated share of labels that "
          f"disagree with the true class {report.estimated_noise_rate}")
    print(f"{len(report.ambiguous)} further ambiguous examples ({report.ambiguous.by})")
    rows = report.rows(10)
    if rows:
        print(f"{'rank':>4} {'index':>7} {'given':>12} {'model':>12} {'p_given':>8} "
              f"{'p_model':>8}")
    for row in rows:
        print(f"{row['rank']:>4} {row['index']:>7} {row['given_name']:>12} "
              f"{row['predicted_name']:>12} {row['p_given']:8.3f} {row['p_predicted']:8.3f}")
