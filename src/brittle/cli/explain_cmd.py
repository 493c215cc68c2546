"""``brittle explain``: explain one image of a dataset, optionally beside its adversarial."""

from __future__ import annotations

import argparse
import math
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch

from brittle import attacks, explain
from brittle._utils.atomic import ensure_writable_dir, write_json
from brittle.cli.args import add_common, positive_int
from brittle.cli.attack_cmd import attack_settings
from brittle.cli.loading import checkpoint_and_data
from brittle.errors import BrittleError
from brittle.explain import figures
from brittle.explain.functional import border_mask, border_share
from brittle.models.classifier import Classifier
from brittle.types import SCHEMA_VERSION, RunInfo

COMPARE_METHODS = ("saliency", "gradcam")


def register(sub: Any) -> None:
    parser = sub.add_parser("explain", help="explain a prediction (saliency, IG, Grad-CAM, ...)")
    parser.add_argument("checkpoint", help="a .safetensors checkpoint written by brittle")
    parser.add_argument("--data", required=True, help="dataset name or folder:PATH")
    parser.add_argument("--split", default="test", choices=("train", "test"))
    parser.add_argument("--index", type=index_type, default=0, help="image index in the split")
    parser.add_argument("--method", default="gradcam",
                        help=f"explainer: {', '.join(explain.names())}")
    parser.add_argument("--target", help="class to explain (index or name; default: predicted)")
    parser.add_argument("--attack", help="also attack the image (e.g. pgd) and compare the maps")
    parser.add_argument("--eps", type=fraction, help="attack budget, pixel scale (0.03 or 8/255)")
    parser.add_argument("--steps", type=positive_int, help="attack steps")
    add_common(parser)
    parser.set_defaults(run=run, out="runs/explain", n=None, norm="linf", step_size=None,
                        restarts=None)


def fraction(text: str) -> float:
    """A number >= 0 written as a float (``0.031``) or a fraction (``8/255``)."""
    top, slash, bottom = text.partition("/")
    try:
        value = float(top) / float(bottom) if slash else float(text)
    except (ValueError, ZeroDivisionError):
        raise argparse.ArgumentTypeError(f"expected a number or a fraction like 8/255, got "
                                         f"{text!r}") from None
    if not (math.isfinite(value) and value >= 0):
        raise argparse.ArgumentTypeError(f"must be a finite number >= 0, got {text}")
    return value


def index_type(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer, got {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be >= 0, got {value}")
    return value


def run(args: argparse.Namespace) -> int:
    started = time.perf_counter()
    out = ensure_writable_dir(args.out)
    explainer = explain.create(args.method)
    if args.attack is None and (args.eps is not None or args.steps is not None):
        raise BrittleError("--eps and --steps need --attack")
    attack = _attack(args) if args.attack else None
    clf, dataset = checkpoint_and_data(args)
    if args.index >= len(dataset):
        raise BrittleError(f"--index {args.index} is out of range: {dataset.name} "
                           f"{dataset.split} has {len(dataset)} images (0..{len(dataset) - 1})")
    image, label = dataset[args.index]
    x, y = image[None].to(clf.device), label[None].to(clf.device)
    probs = clf.predict_logits(x).softmax(1)[0].cpu()
    target = (probs.argmax()[None] if args.target is None
              else torch.tensor([parse_class(args.target, clf.class_names)]))
    explanation = explainer(clf, x, target.to(clf.device))
    files = _write_panels(out, x.cpu(), explanation, clf.class_names)
    names = clf.class_names
    payload: dict[str, Any] = {
        "schema": "brittle.explain", "schema_version": SCHEMA_VERSION,
        "checkpoint": str(args.checkpoint), "dataset": dataset.name, "split": dataset.split,
        "index": args.index, "label": int(label), "label_name": names[int(label)],
        "prediction": int(probs.argmax()), "prediction_name": names[int(probs.argmax())],
        "probabilities": {names[i]: float(p) for i, p in enumerate(probs)},
        "method": explainer.name, "target": int(target[0]),
        "target_name": names[int(target[0])], "map": map_summary(explanation)}
    if attack is not None:
        payload["attack"] = _compare(out, clf, x, y, attack, explainer.name, files)
    info = RunInfo(seed=args.seed, device=str(clf.device),
                   seconds={"total": time.perf_counter() - started})
    payload["files"] = files
    payload["run"] = info.to_dict()
    write_json(out / "explain.json", payload)
    files.append("explain.json")
    _print_summary(payload)
    print(f"results: {out}/ ({', '.join(files)})")
    return 0


def parse_class(text: str, class_names: Sequence[str]) -> int:
    """A class index or name, checked against ``class_names``."""
    if text in class_names:
        return list(class_names).index(text)
    try:
        value = int(text)
    except ValueError:
        raise BrittleError(f"unknown class {text!r}; classes: {', '.join(class_names)}") from None
    if not 0 <= value < len(class_names):
        raise BrittleError(f"--target {value} is out of range [0, {len(class_names) - 1}]")
    return value


def map_summary(explanation: explain.Explanation) -> dict[str, Any]:
    """Raw numbers of a one-image explanation: range, positive and negative mass, border share
    (band ``min(H, W) // 8``) and the method's extras."""
    maps = explanation.maps[0].detach().cpu()
    mask = border_mask(maps.shape[-2], maps.shape[-1])
    summary = {"shape": list(maps.shape), "min": float(maps.min()), "max": float(maps.max()),
               "abs_sum": float(maps.abs().sum()),
               "positive_sum": float(maps.clamp_min(0).sum()),
               "negative_sum": float(maps.clamp_max(0).sum()),
               "border_share": float(border_share(maps[None], mask)[0]),
               "border_area_share": float(mask.float().mean())}
    summary.update({k: float(v[0]) for k, v in explanation.info.items()})
    return summary


def _attack(args: argparse.Namespace) -> attacks.Attack:
    if args.eps is None:
        raise BrittleError("--attack needs --eps (e.g. --eps 8/255)")
    return attacks.create(args.attack, **attack_settings(args))


def _write_panels(out: Path, x: torch.Tensor, explanation: explain.Explanation,
                  class_names: Sequence[str]) -> list[str]:
    kinds = ["map", "overlay"]
    if figures.is_signed(explanation):
        kinds += ["positive", "negative"]
    title = f"{explanation.method}: {class_names[int(explanation.target[0])]}"
    for kind in kinds:
        figures.single_panel(kind, x, explanation, 0, out / f"{kind}.png", title=f"{title} "
                             f"({kind})")
    figures.explanation_grid(x, explanation, out / "explanation.png", class_names=class_names)
    return [f"{kind}.png" for kind in kinds] + ["explanation.png"]


def _compare(out: Path, clf: Classifier, x: torch.Tensor, y: torch.Tensor,
             attack: attacks.Attack, method: str, files: list[str]) -> dict[str, Any]:
    result = attack(clf, x, y)
    methods = [*COMPARE_METHODS, *([method] if method not in COMPARE_METHODS else [])]
    comparison = explain.compare_clean_adversarial(clf, x, y, result.x_adv, methods=methods)
    comparison.figure(out / "compare.png", class_names=clf.class_names)
    files.append("compare.png")
    adv_probs = result.logits.softmax(1)[0].cpu()
    adv_class = int(comparison.adv_class[0])
    return {"name": attack.name, "settings": {k: v for k, v in attack.settings().items()
                                              if isinstance(v, (int, float, str, bool))},
            "success": bool(result.success[0]),
            "clean_correct": bool(result.clean_correct[0]), "adversarial_class": adv_class,
            "adversarial_name": clf.class_names[adv_class],
            "adversarial_confidence": float(adv_probs[adv_class]),
            "linf": float((result.x_adv - x).abs().max()),
            "similarity": {m: {k: float(v[0]) for k, v in s.items()}
                           for m, s in comparison.similarity.items()},
            "adversarial_maps": {m: map_summary(e) for m, e in comparison.adversarial.items()},
            "clean_maps": {m: map_summary(e) for m, e in comparison.clean.items()}}


def _print_summary(payload: dict[str, Any]) -> None:
    print(f"{payload['dataset']}[{payload['index']}]: label {payload['label_name']}, predicted "
          f"{payload['prediction_name']} "
          f"({100 * payload['probabilities'][payload['prediction_name']]:.1f}%)")
    m = payload["map"]
    print(f"{payload['method']} for {payload['target_name']}: border share "
          f"{m['border_share']:.2f} (area {m['border_area_share']:.2f}), range "
          f"[{m['min']:.3g}, {m['max']:.3g}]")
    if "attack" in payload:
        a = payload["attack"]
        outcome = ("already misclassified" if not a["clean_correct"]
                   else "fooled" if a["success"] else "not fooled")
        print(f"{a['name']}: {outcome}, adversarial class {a['adversarial_name']} "
              f"({100 * a['adversarial_confidence']:.1f}%); map similarity clean vs adversarial "
              + ", ".join(f"{k} SSIM {v['ssim']:.2f}" for k, v in a["similarity"].items()))
