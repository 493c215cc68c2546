"""``brittle attack``: attack a checkpoint, write results, adversarials and figures."""

from __future__ import annotations

import argparse
import csv
import inspect
import io
from pathlib import Path
from typing import Any

import numpy as np

from brittle import attacks
from brittle._utils.atomic import atomic_path, ensure_writable_dir, write_json
from brittle._utils.jsonable import to_jsonable
from brittle.attacks.base import AttackResult
from brittle.attacks.evaluate import per_class_report, robustness_curve, run_batched
from brittle.cli.args import add_common, nonneg_float, positive_float, positive_int
from brittle.cli.loading import checkpoint_and_data
from brittle.errors import BrittleError
from brittle.types import SCHEMA_VERSION, RunInfo


def register(sub: Any) -> None:
    parser = sub.add_parser("attack", help="attack a checkpoint and report per-class results")
    parser.add_argument("checkpoint", help="a .safetensors checkpoint written by brittle")
    parser.add_argument("--data", required=True, help="dataset name or folder:PATH")
    parser.add_argument("--split", default="test", choices=("train", "test"))
    parser.add_argument("--attack", default="pgd", help="attack name (see docs/attacks.md)")
    parser.add_argument("--eps", type=nonneg_float, required=True, help="budget, pixel scale")
    parser.add_argument("--norm", choices=("linf", "l2", "l1"), default="linf")
    parser.add_argument("--steps", type=positive_int)
    parser.add_argument("--step-size", type=positive_float)
    parser.add_argument("--restarts", type=positive_int)
    parser.add_argument("--target", default="untargeted",
                        help="untargeted, least-likely[:k], random or a class index")
    parser.add_argument("--n", type=positive_int, help="attack a seeded subset of N images")
    parser.add_argument("--batch-size", type=positive_int, default=256)
    parser.add_argument("--curve", action="store_true",
                        help="also write robust accuracy versus eps (8 budgets up to --eps)")
    parser.add_argument("--curve-eps", help="comma-separated budgets for --curve")
    parser.add_argument("--compile", action="store_true",
                        help="run the network through torch.compile (pays off on large sets)")
    add_common(parser)
    parser.set_defaults(run=run, out="runs/attack")


def run(args: argparse.Namespace) -> int:
    out = ensure_writable_dir(args.out)
    target = attacks.parse_target(args.target)
    kwargs = attack_settings(args)
    attack = attacks.create(args.attack, **kwargs)
    clf, dataset = checkpoint_and_data(args)
    show = False if args.no_progress else None
    x, y = dataset.tensors()
    info = RunInfo(seed=args.seed, device=str(clf.device))
    result = run_batched(attack, clf, (x, y), batch_size=args.batch_size, target=target,
                         progress=show, compile=args.compile)
    report = per_class_report(result, clf.class_names)
    payload: dict[str, Any] = {
        "schema": "brittle.attack", "schema_version": SCHEMA_VERSION,
        "checkpoint": str(args.checkpoint), "dataset": dataset.name, "split": dataset.split,
        "n": len(dataset), "attack": attack.name, "settings": to_jsonable(attack.settings()),
        "target": args.target, "robust_accuracy": result.robust_accuracy().to_dict(),
        "success_rate": result.success_rate().to_dict(), "per_class": report.to_dict(),
        "info": info_summary(result)}
    if args.curve:
        budgets = _curve_budgets(args)
        curve = robustness_curve(args.attack, clf, x, y, budgets, target=target,
                                 batch_size=args.batch_size, progress=show, compile=args.compile,
                                 **{k: v for k, v in kwargs.items() if k != "eps"})
        payload["curve"] = curve.to_dict()
        _write_curve(out, curve)
    payload["run"] = info.to_dict()
    _write_adversarials(out / "adversarial.npz", x, result)
    from brittle.report.figures import adversarial_grid

    adversarial_grid(result, x, clf.class_names, out / "grid.png")
    write_json(out / "attack.json", payload)
    _print_summary(payload, report)
    print(f"results: {out}/ (attack.json, adversarial.npz, grid.png"
          f"{', curve.csv, curve.png' if args.curve else ''})")
    return 0


def info_summary(result: AttackResult) -> dict[str, Any]:
    """The attack's per-sample extras (``AttackResult.info``) as lists, and for a cascade
    (AutoAttack's ``broken_by``) how many samples each component broke."""
    summary: dict[str, Any] = {key: value.cpu().tolist() for key, value in result.info.items()}
    components = result.params.get("attacks")
    if "broken_by" in result.info and components:
        broken_by = result.info["broken_by"]
        summary["broken_by_counts"] = {str(name): int((broken_by == code).sum())
                                       for code, name in enumerate(components)}
    return summary


def attack_settings(args: argparse.Namespace) -> dict[str, Any]:
    """The attack's keyword settings from the flags given, refusing ones it does not take."""
    given = {"eps": args.eps, "norm": args.norm, "steps": args.steps,
             "step_size": args.step_size, "restarts": args.restarts, "seed": args.seed}
    factory = attacks.ATTACKS.get(args.attack)
    accepted = _accepted_keywords(factory)
    settings = {}
    for name, value in given.items():
        if value is None or (name == "norm" and value == "linf" and name not in accepted):
            continue
        if name not in accepted:
            raise BrittleError(f"attack {args.attack!r} has no setting {name!r}")
        settings[name] = value
    return settings


def _accepted_keywords(factory: Any) -> set[str]:
    names: set[str] = set()
    for cls in inspect.getmro(factory) if inspect.isclass(factory) else (factory,):
        init = cls.__init__ if inspect.isclass(cls) else cls
        params = inspect.signature(init).parameters.values()
        names |= {p.name for p in params if p.kind is p.KEYWORD_ONLY}
        if not any(p.kind is p.VAR_KEYWORD for p in params):
            break
    return names


def _curve_budgets(args: argparse.Namespace) -> list[float]:
    if args.curve_eps:
        try:
            return [float(v) for v in args.curve_eps.split(",")]
        except ValueError:
            raise BrittleError(f"--curve-eps must be comma-separated numbers, got "
                               f"{args.curve_eps!r}") from None
    if args.eps == 0:
        raise BrittleError("--curve needs --eps > 0 or --curve-eps")
    return [args.eps * i / 8 for i in range(1, 9)]


def _write_adversarials(path: Path, x: Any, result: Any) -> None:
    """Clean and adversarial images as float32 (lossless), labels, predictions, targets."""
    arrays = {"x": x.cpu().numpy(), "x_adv": result.x_adv.cpu().numpy(),
              "labels": result.labels.cpu().numpy(),
              "clean_pred": result.clean_logits.argmax(1).cpu().numpy(),
              "adv_pred": result.logits.argmax(1).cpu().numpy(),
              "success": result.success.cpu().numpy()}
    if result.target is not None:
        arrays["target"] = result.target.cpu().numpy()
    arrays.update({f"info_{key}": value.cpu().numpy() for key, value in result.info.items()})
    buffer = io.BytesIO()
    np.savez_compressed(buffer, **arrays)
    with atomic_path(path) as tmp:
        tmp.write_bytes(buffer.getvalue())


def _write_curve(out: Path, curve: Any) -> None:
    from brittle.report.figures import curve_plot

    text = io.StringIO()
    writer = csv.writer(text)
    writer.writerow(["eps", "robust_accuracy", "ci_low", "ci_high", "n"])
    for eps, rate in zip(curve.eps, curve.robust_accuracy, strict=True):
        writer.writerow([f"{eps:g}", f"{rate.value:.6f}", f"{rate.low:.6f}", f"{rate.high:.6f}",
                         rate.n])
    with atomic_path(out / "curve.csv") as tmp:
        tmp.write_text(text.getvalue())
    curve_plot(curve.eps, curve.values(), [r.low for r in curve.robust_accuracy],
               [r.high for r in curve.robust_accuracy], out / "curve.png",
               title=f"{curve.attack} ({curve.norm})")
    print("eps        robust accuracy [95% CI]")
    for eps, rate in zip(curve.eps, curve.robust_accuracy, strict=True):
        print(f"{eps:<10.4g} {rate}")


def _print_summary(payload: dict[str, Any], report: Any) -> None:
    robust, success = payload["robust_accuracy"], payload["success_rate"]
    print(f"{payload['attack']} on {payload['dataset']} (n={payload['n']}): robust accuracy "
          f"{100 * robust['value']:.2f}% [{100 * robust['low']:.1f}, {100 * robust['high']:.1f}], "
          f"attack success {100 * success['value']:.2f}% (n={success['n']})")
    print(f"{'class':<12} {'n':>5} {'clean':>8} {'robust':>8} {'success [95% CI]':>22}")
    for c in report.classes:
        s = c.success_rate
        print(f"{c.name:<12} {c.n:>5} {100 * c.clean_accuracy.value:7.2f}% "
              f"{100 * c.robust_accuracy.value:7.2f}% {100 * s.value:8.2f}% "
              f"[{100 * s.low:.1f}, {100 * s.high:.1f}]")

