"""Explanation throughput: brittle against captum on the same model, images and settings.

Saliency, Integrated Gradients (50 Gauss-Legendre steps, both chunked to the same number of
images per pass) and Grad-CAM (last conv layer, upsampled) on LeNet-5 / MNIST (batch 256) and
ResNet-20 / CIFAR-10 (batch 64). Untrained weights: throughput does not depend on them. The two
implementations alternate over the rounds in one process; the table shows median images/s and
the ratio brittle / captum (> 1: brittle is faster). The maps are checked to agree first.

    python benchmarks/explain.py --data-dir ../shared/data
    python benchmarks/explain.py --data-dir ../shared/data --quick   # smoke test
"""

from __future__ import annotations

import argparse
import statistics
import time
import warnings
from collections.abc import Callable

import torch
from torch import nn

from brittle import data, explain, models, retain_freed_memory
from brittle.models import Classifier

Runner = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]
IG_STEPS = 50


def last_conv(clf: Classifier) -> nn.Module:
    return [m for m in clf.model.modules() if isinstance(m, nn.Conv2d)][-1]


def brittle_runners(clf: Classifier, chunk: int) -> dict[str, Runner]:
    saliency = explain.create("saliency", batch_size=chunk)
    ig = explain.create("integrated_gradients", steps=IG_STEPS, batch_size=chunk)
    gradcam = explain.create("gradcam", batch_size=chunk)
    return {"saliency": lambda x, y: saliency(clf, x, y).maps,
            "integrated_gradients": lambda x, y: ig(clf, x, y).maps,
            "gradcam": lambda x, y: gradcam(clf, x, y).maps}


def captum_runners(clf: Classifier, chunk: int) -> dict[str, Runner]:
    from captum.attr import IntegratedGradients, LayerAttribution, LayerGradCam, Saliency

    saliency, ig = Saliency(clf), IntegratedGradients(clf)
    gradcam = LayerGradCam(clf, last_conv(clf))

    def cam(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        low = gradcam.attribute(x, target=y, relu_attributions=True)
        return LayerAttribution.interpolate(low, tuple(x.shape[2:]), "bilinear")

    return {"saliency": lambda x, y: saliency.attribute(x, target=y, abs=False),
            "integrated_gradients": lambda x, y: ig.attribute(
                x, target=y, n_steps=IG_STEPS, method="gausslegendre",
                internal_batch_size=chunk),
            "gradcam": cam}


def check_agreement(ours: dict[str, Runner], theirs: dict[str, Runner], x: torch.Tensor,
                    y: torch.Tensor) -> None:
    for name in ours:
        a, b = ours[name](x[:8], y[:8]), theirs[name](x[:8].clone(), y[:8]).detach()
        scale = float(b.abs().max()) or 1.0
        gap = float((a - b).abs().max()) / scale
        if gap > 1e-3:
            raise SystemExit(f"{name}: brittle and captum disagree (max gap {gap:.2e})")


def bench(setting: str, clf: Classifier, x: torch.Tensor, y: torch.Tensor, *, rounds: int,
          chunk: int) -> list[tuple[str, str, float, float]]:
    clf.eval()
    impls = {"brittle": brittle_runners(clf, chunk), "captum": captum_runners(clf, chunk)}
    check_agreement(impls["brittle"], impls["captum"], x, y)
    rows = []
    for method in impls["brittle"]:
        times: dict[str, list[float]] = {name: [] for name in impls}
        for r in range(rounds):
            order = list(impls) if r % 2 == 0 else list(impls)[::-1]
            for name in order:
                start = time.perf_counter()
                impls[name][method](x.clone(), y)
                times[name].append(time.perf_counter() - start)
        ours, theirs = (len(x) / statistics.median(times[n]) for n in ("brittle", "captum"))
        rows.append((setting, method, ours, theirs))
        print(f"  {setting:<18} {method:<22} brittle {ours:9.1f} img/s   captum {theirs:9.1f} "
              f"img/s   ratio {ours / theirs:5.2f}", flush=True)
    return rows


def images(name: str, n: int, data_dir: str | None) -> tuple[torch.Tensor, torch.Tensor]:
    x, y = data.load(name, "test", data_dir=data_dir).tensors()
    return x[:n], y[:n]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1, help="torch intra-op threads")
    parser.add_argument("--chunk", type=int, default=512,
                        help="images per forward/backward pass for IG (both libraries)")
    parser.add_argument("--quick", action="store_true", help="small batches, one round")
    args = parser.parse_args()
    retain_freed_memory()  # as the brittle command does; every implementation here shares it
    torch.set_num_threads(args.threads)
    warnings.filterwarnings("ignore", message="Input Tensor 0 did not already require gradients")
    torch.manual_seed(0)
    rounds = 1 if args.quick else args.rounds
    scale = 8 if args.quick else 1
    settings = [("lenet5 / mnist", "lenet5", "mnist", (1, 28, 28), 256 // scale),
                ("resnet20 / cifar10", "resnet20", "cifar10", (3, 32, 32), 64 // scale)]
    print(f"torch {torch.__version__}, {torch.get_num_threads()} thread(s), {rounds} round(s), "
          f"IG {IG_STEPS} steps, IG chunk {args.chunk}")
    rows = []
    for label, arch, dataset, shape, batch in settings:
        clf = models.build_classifier(arch, input_shape=shape, num_classes=10)
        x, y = images(dataset, batch, args.data_dir)
        rows += bench(f"{label} (b={batch})", clf, x, y, rounds=rounds, chunk=args.chunk)
    print("\n| setting | method | brittle img/s | captum img/s | brittle / captum |")
    print("|---|---|---:|---:|---:|")
    for setting, method, ours, theirs in rows:
        print(f"| {setting} | {method} | {ours:.1f} | {theirs:.1f} | {ours / theirs:.2f} |")


if __name__ == "__main__":
    main()
