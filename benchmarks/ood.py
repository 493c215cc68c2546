r"""OOD detection reference numbers: every detector, a LeNet-5 on MNIST, five OOD sets.

Fits every registered detector on a seeded subset of MNIST train (10,000 images by default),
scores MNIST test (in-distribution) against Fashion-MNIST test, KMNIST test and three synthetic
sets (uniform, gaussian, constant), and prints AUROC / AUPR-In / AUPR-Out / FPR@95 (OOD
positive, higher score = more OOD) and the time to fit and to score per detector.

    python benchmarks/ood.py --data-dir ../shared/data \
        --checkpoint runs/lenet-mnist/model.safetensors
    python benchmarks/ood.py --data-dir ../shared/data    # trains LeNet-5 first (5 epochs)

Reference: OpenOOD v1.0 (Yang et al. 2022) reports MSP AUROC 94.6 for a LeNet on MNIST against
Fashion-MNIST.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

import torch

from brittle import data, models, ood, retain_freed_memory, train
from brittle.models import Classifier
from brittle.ood.synthetic import KINDS

OPENOOD_MSP_FASHION_AUROC = 94.6
# non-default settings worth a reference number: label -> (detector, settings)
VARIANTS: dict[str, tuple[str, dict[str, Any]]] = {
    "deep_knn[euclidean]": ("deep_knn", {"metric": "euclidean"}),
    "mahalanobis[last_conv]": ("mahalanobis", {"layer": "last_conv"}),
}


def load_model(args: argparse.Namespace) -> Classifier:
    if args.checkpoint:
        return models.load_classifier(args.checkpoint)
    outcome = train("lenet5", "mnist", epochs=args.epochs, data_dir=args.data_dir,
                    seed=args.seed, out=args.out, show_progress=False)
    return outcome.classifier


def ood_sets(args: argparse.Namespace, clf: Classifier) -> dict[str, tuple[torch.Tensor, str]]:
    sets = {}
    for name in ("fashion-mnist", "kmnist"):
        x, _ = data.load(name, "test", data_dir=args.data_dir).tensors()
        sets[name] = ood.convert_images(x[:args.n_ood], clf.input_shape)
    for i, kind in enumerate(KINDS):
        sets[kind] = (ood.synthetic(kind, args.n_ood, clf.input_shape, seed=args.seed + i),
                      "none")
    return sets


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", default=None)
    parser.add_argument("--checkpoint", default=None, help="a LeNet-5 MNIST checkpoint")
    parser.add_argument("--epochs", type=int, default=5, help="training epochs without one")
    parser.add_argument("--out", default=None, help="where to save the trained model")
    parser.add_argument("--n-fit", type=int, default=10_000)
    parser.add_argument("--n-ood", type=int, default=10_000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--detectors", nargs="*", default=ood.names())
    parser.add_argument("--no-variants", action="store_true",
                        help="skip the non-default settings (" + ", ".join(VARIANTS) + ")")
    parser.add_argument("--json", default=None, help="also write the results here")
    args = parser.parse_args()
    retain_freed_memory()  # as the brittle command does; every implementation here shares it

    clf = load_model(args)
    fit_set = data.load("mnist", "train", data_dir=args.data_dir).subset(args.n_fit,
                                                                        seed=args.seed)
    x_fit, y_fit = fit_set.tensors()
    x_in, y_in = data.load("mnist", "test", data_dir=args.data_dir).tensors()
    sets = ood_sets(args, clf)
    detectors = {name: ood.create(name) for name in args.detectors}
    if not args.no_variants:
        detectors.update({label: ood.create(name, **kw) for label, (name, kw) in VARIANTS.items()
                          if name in args.detectors})
    layers = sorted({layer for det in detectors.values() for layer in det.layers})

    start = time.perf_counter()
    f_fit = ood.extract_features(clf, x_fit, layers)
    f_in = ood.extract_features(clf, x_in, layers)
    f_out = {name: ood.extract_features(clf, x, layers) for name, (x, _) in sets.items()}
    extract_s = time.perf_counter() - start
    accuracy = float((f_in["logits"].argmax(1) == y_in).double().mean())
    n_images = len(x_fit) + len(x_in) + sum(len(x) for x, _ in sets.values())
    print(f"model: {args.checkpoint or 'lenet5 trained here'}; MNIST test accuracy "
          f"{100 * accuracy:.2f}%; fit on {len(x_fit)} MNIST train images (seed {args.seed}); "
          f"ID: MNIST test ({len(x_in)}); OOD sets of {args.n_ood}: "
          + ", ".join(f"{n} ({how})" for n, (_, how) in sets.items()))
    print(f"features ({', '.join(layers)}) of {n_images} images in {extract_s:.1f} s, "
          f"{torch.get_num_threads()} threads\n")

    rows, timing = [], []
    for name, det in detectors.items():
        start = time.perf_counter()
        det.fit(f_fit, y_fit, seed=args.seed)
        fit_s = time.perf_counter() - start
        start = time.perf_counter()
        s_in = det.score(f_in, classifier=clf, x=x_in)
        s_out = {k: det.score(f, classifier=clf, x=sets[k][0]) for k, f in f_out.items()}
        score_s = time.perf_counter() - start
        n_scored = len(s_in) + sum(len(s) for s in s_out.values())
        timing.append({"detector": name, "fit_s": fit_s, "score_s": score_s,
                       "n_scored": n_scored})
        for dataset, s in s_out.items():
            rows.append({"detector": name, "dataset": dataset, **ood.ood_metrics(s_in, s)})

    print("| detector | OOD set | AUROC | AUPR-In | AUPR-Out | FPR@95 |")
    print("| --- | --- | --- | --- | --- | --- |")
    for r in rows:
        print(f"| {r['detector']} | {r['dataset']} | {100 * r['auroc']:.2f} | "
              f"{100 * r['aupr_in']:.2f} | {100 * r['aupr_out']:.2f} | {100 * r['fpr95']:.2f} |")
    print("\n| detector | fit (s) | score (s) | images scored | images/s |")
    print("| --- | --- | --- | --- | --- |")
    for t in timing:
        print(f"| {t['detector']} | {t['fit_s']:.2f} | {t['score_s']:.2f} | {t['n_scored']} | "
              f"{t['n_scored'] / max(t['score_s'], 1e-9):,.0f} |")
    msp = next((r for r in rows if r["detector"] == "msp" and r["dataset"] == "fashion-mnist"),
               None)
    if msp is not None:
        print(f"\nMSP AUROC vs Fashion-MNIST: ours {100 * msp['auroc']:.1f}, OpenOOD v1.0 "
              f"{OPENOOD_MSP_FASHION_AUROC}")
    if args.json:
        Path(args.json).write_text(json.dumps({"accuracy": accuracy, "results": rows,
                                               "timing": timing, "convention": ood.CONVENTION},
                                              indent=2))


if __name__ == "__main__":
    main()
