"""Attack throughput: brittle PGD against a hand-written loop and the peer libraries.

Runs in one process on the same model, data and settings, and prints images/s and the ratio to
a hand-written ``torch.autograd.grad`` PGD loop. The loop and the peers attack the network as
their users have it (default memory layout); one more row runs the loop through brittle's
classifier, which gives convolutions channels-last input on the CPU. Also measures what only
brittle does: per-sample early stopping (against full-length PGD, at the same robust accuracy),
an 8-budget robustness curve from one run (against one run per budget; undefended and fast-AT
models) and the optional ``compile=True`` path (against eager brittle PGD on ResNet-20).

    python benchmarks/attacks.py --data-dir ../shared/data            # full run
    python benchmarks/attacks.py --data-dir ../shared/data --quick    # smaller, for a smoke test
    python benchmarks/attacks.py --data-dir ../shared/data --steps 40 # longer PGD in the tables
    python benchmarks/attacks.py --data-dir ../shared/data --only curves  # one part

Peers are optional: torchattacks (pip install --no-deps torchattacks==3.5.1),
adversarial-robustness-toolbox and foolbox; missing ones are reported and skipped.
"""

from __future__ import annotations

import argparse
import copy
import functools
import statistics
import time
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

import torch
import torch.nn.functional as F

from brittle import data, models, recipes, retain_freed_memory
from brittle.attacks import PGD
from brittle.attacks.evaluate import robustness_curve, run_batched
from brittle.models import Classifier

AttackFn = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]
T = TypeVar("T")
PARTS = ("throughput", "layout", "early-stop", "curves", "compile")


def hand_pgd(clf: Classifier, x: torch.Tensor, y: torch.Tensor, eps: float, alpha: float,
             steps: int) -> torch.Tensor:
    """The reference: the shortest correct PGD loop one would write by hand."""
    for p in clf.parameters():
        p.requires_grad_(False)
    x_adv = (x + torch.empty_like(x).uniform_(-eps, eps)).clamp(0, 1)
    for _ in range(steps):
        x_adv.requires_grad_(True)
        loss = F.cross_entropy(clf(x_adv), y)
        (grad,) = torch.autograd.grad(loss, x_adv)
        x_adv = x_adv.detach() + alpha * grad.sign()
        x_adv = torch.min(torch.max(x_adv, x - eps), x + eps).clamp(0, 1)
    return x_adv.detach()


def hand_pgd_with_predictions(clf: Classifier, x: torch.Tensor, y: torch.Tensor, eps: float,
                              alpha: float, steps: int) -> torch.Tensor:
    """The hand loop plus what an evaluation needs: clean and final predictions (two forwards,
    as brittle computes them)."""
    with torch.no_grad():
        clf(x)
    x_adv = hand_pgd(clf, x, y, eps, alpha, steps)
    with torch.no_grad():
        clf(x_adv)
    return x_adv


def alternating(runs: Mapping[str, Callable[[], T]],
                repeats: int) -> tuple[dict[str, float], dict[str, T]]:
    """Median seconds of each run and its last output. The runs take turns, in reverse order
    every other round, so that drifts in the machine's speed fall on all of them alike."""
    times: dict[str, list[float]] = {label: [] for label in runs}
    out: dict[str, T] = {}
    labels = list(runs)
    for r in range(repeats):
        for label in labels if r % 2 == 0 else labels[::-1]:
            start = time.perf_counter()
            out[label] = runs[label]()
            times[label].append(time.perf_counter() - start)
    return {label: statistics.median(t) for label, t in times.items()}, out


def batched(fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor], x: torch.Tensor,
            y: torch.Tensor, bs: int) -> torch.Tensor:
    return torch.cat([fn(x[i:i + bs], y[i:i + bs]) for i in range(0, len(x), bs)])


def adversarial(attack: PGD, clf: Classifier, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    return attack(clf, x, y).x_adv


def default_layout(clf: Classifier) -> Classifier:
    """The same network as a user of the other libraries runs it: brittle's classifier gives
    convolutions channels-last input on the CPU, a bare model gets the default layout."""
    return clf.twin(channels_last=False).eval()  # shares the network: puts it in eval mode


def robust_acc(clf: Classifier, x_adv: torch.Tensor, y: torch.Tensor) -> float:
    return float((clf.predict_logits(x_adv).argmax(1) == y).float().mean())


def peers(clf: Classifier, eps: float, alpha: float, steps: int, bs: int,
          shape: tuple[int, ...]) -> dict[str, AttackFn]:
    found: dict[str, AttackFn] = {}
    try:
        import torchattacks

        ta = torchattacks.PGD(clf, eps=eps, alpha=alpha, steps=steps, random_start=True)
        found["torchattacks"] = lambda xb, yb: ta(xb, yb)
    except ImportError as exc:
        print(f"  (torchattacks skipped: {exc})")
    try:
        import numpy as np
        from art.attacks.evasion import ProjectedGradientDescentPyTorch
        from art.estimators.classification import PyTorchClassifier

        est = PyTorchClassifier(model=clf, loss=torch.nn.CrossEntropyLoss(), input_shape=shape,
                                nb_classes=clf.num_classes, clip_values=(0.0, 1.0),
                                device_type="cpu")
        art_pgd = ProjectedGradientDescentPyTorch(est, norm=np.inf, eps=eps, eps_step=alpha,
                                                  max_iter=steps, batch_size=bs,
                                                  num_random_init=1, verbose=False)
        found["ART"] = lambda xb, yb: torch.from_numpy(
            art_pgd.generate(xb.numpy(), y=yb.numpy()))
    except ImportError as exc:
        print(f"  (ART skipped: {exc})")
    try:
        import foolbox as fb

        fmodel = fb.PyTorchModel(clf, bounds=(0, 1))
        fb_pgd = fb.attacks.LinfPGD(abs_stepsize=alpha, steps=steps, random_start=True)
        found["foolbox"] = lambda xb, yb: fb_pgd(fmodel, xb, yb, epsilons=eps)[1]
    except ImportError as exc:
        print(f"  (foolbox skipped: {exc})")
    return found


def throughput(name: str, clf: Classifier, x: torch.Tensor, y: torch.Tensor, *, eps: float,
               steps: int, bs: int, repeats: int) -> None:
    alpha = 2.5 * eps / steps
    print(f"\n## {name}: PGD-{steps} Linf eps={eps:.4g}, {len(x)} images, batch {bs}")
    print(f"{'implementation':<28} {'images/s':>9} {'x hand loop':>12} {'robust acc':>11}")
    ours = PGD(eps=eps, steps=steps, step_size=alpha, early_stop=False, seed=0)
    plain = default_layout(clf)
    runs: dict[str, AttackFn] = {
        "hand-written autograd loop": lambda xb, yb: hand_pgd(plain, xb, yb, eps, alpha, steps),
        "hand loop + predictions": lambda xb, yb: hand_pgd_with_predictions(
            plain, xb, yb, eps, alpha, steps),
        "hand loop, channels-last": lambda xb, yb: hand_pgd(clf, xb, yb, eps, alpha, steps),
        "brittle PGD": lambda xb, yb: ours(clf, xb, yb).x_adv,
        **peers(plain, eps, alpha, steps, bs, tuple(x.shape[1:])),
    }
    seconds = dict.fromkeys(runs, 0.0)
    outputs: dict[str, list[torch.Tensor]] = {label: [] for label in runs}
    labels = list(runs)
    with clf.evaluating():
        for fn in runs.values():  # warm-up
            fn(x[:bs], y[:bs])
        # every batch runs through all implementations back to back, in a rotating order, so a
        # neighbour's load on this shared machine hits them alike (alternating whole runs left
        # ratios spread over 0.84-1.07x between rounds)
        for r in range(repeats):
            for b, first in enumerate(range(0, len(x), bs)):
                xb, yb = x[first:first + bs], y[first:first + bs]
                shift = (r + b) % len(labels)
                for label in labels[shift:] + labels[:shift]:
                    torch.manual_seed(b)
                    start = time.perf_counter()
                    out = runs[label](xb, yb)
                    seconds[label] += time.perf_counter() - start
                    if r == 0:
                        outputs[label].append(out)
    base = seconds["hand-written autograd loop"]
    for label in runs:
        rate = repeats * len(x) / seconds[label]
        acc = 100 * robust_acc(clf, torch.cat(outputs[label]), y)
        print(f"{label:<28} {rate:9.1f} {base / seconds[label]:11.2f}x {acc:10.2f}%")


def layout(name: str, clf: Classifier, x: torch.Tensor, y: torch.Tensor, *,
           repeats: int) -> None:
    """One attack step (forward and input gradient, eval mode) and one training step (forward
    and weight gradients, train mode) with the default layout and with channels-last input."""
    print(f"\n## memory layout: {name}, batch {len(x)}")

    def attack_step(model: Classifier) -> None:
        x_adv = x.clone().requires_grad_(True)
        torch.autograd.grad(F.cross_entropy(model(x_adv), y), x_adv)

    def train_step(model: Classifier) -> None:
        F.cross_entropy(model(x), y).backward()
        model.zero_grad(set_to_none=True)

    # a copy trains (train-mode batch norm updates its running statistics), with the weight
    # gradients that the hand loop switched off
    trainee = copy.deepcopy(clf).requires_grad_(True)
    for label, step, model, training in (("attack step", attack_step, clf, False),
                                         ("training step", train_step, trainee, True)):
        plain = default_layout(model)  # shares the network, so its modes too
        times: dict[bool, list[float]] = {False: [], True: []}
        with model.evaluating():
            model.train(training)
            for _ in range(3 * repeats):
                for channels_last in (False, True):
                    start = time.perf_counter()
                    for _ in range(5):
                        step(model if channels_last else plain)
                    times[channels_last].append((time.perf_counter() - start) / 5)
        default, fast = (1000 * statistics.median(times[flag]) for flag in (False, True))
        print(f"{label:<14} default {default:7.2f} ms  channels-last {fast:7.2f} ms  "
              f"speed-up {default / fast:.2f}x")


def early_stopping(clf: Classifier, x: torch.Tensor, y: torch.Tensor, *, eps: float, steps: int,
                   bs: int, repeats: int) -> None:
    print(f"\n## early stopping: PGD-{steps} eps={eps:.4g}, undefended model, {len(x)} images")
    runs = {}
    for label, stop in (("full length", False), ("early stop", True)):
        attack = PGD(eps=eps, steps=steps, early_stop=stop, seed=0)
        attack(clf, x[:bs], y[:bs])  # warm-up
        runs[label] = functools.partial(batched, functools.partial(adversarial, attack, clf),
                                        x, y, bs)
    seconds, x_adv = alternating(runs, repeats)
    for label in runs:
        print(f"{label:<12} {seconds[label]:7.2f}s  robust acc "
              f"{100 * robust_acc(clf, x_adv[label], y):.2f}%")
    print(f"speed-up {seconds['full length'] / seconds['early stop']:.2f}x")


def curve(clf: Classifier, x: torch.Tensor, y: torch.Tensor, *, budgets: list[float],
          steps: int, bs: int, repeats: int) -> None:
    grid = ", ".join(f"{b:.3g}" for b in budgets)
    print(f"\n## robustness curve: budgets [{grid}], PGD-{steps}, {len(x)} images")
    runs = {method: functools.partial(robustness_curve, "pgd", clf, x, y, budgets,
                                      method=method, batch_size=bs, steps=steps, progress=False)
            for method in ("separate", "reuse")}
    seconds, out = alternating(runs, repeats)  # the curves themselves repeat exactly
    gap = max(abs(a - b) for a, b in zip(out["reuse"].values(), out["separate"].values(),
                                         strict=True))
    for method, c in out.items():
        print(f"{method:<9} {seconds[method]:7.2f}s  {sum(c.attacked):5d} attacked  "
              + " ".join(f"{100 * v:5.1f}" for v in c.values()))
    print(f"speed-up {seconds['separate'] / seconds['reuse']:.2f}x, largest gap "
          f"{100 * gap:.2f} pp")


def compiled(name: str, clf: Classifier, x: torch.Tensor, y: torch.Tensor, *, eps: float,
             steps: int, bs: int, repeats: int, early_stop: bool) -> None:
    """brittle PGD with and without ``compile=True``, compile time excluded and reported.

    The first call runs the whole set, so it also compiles for every batch size that early
    stopping makes (the timed calls repeat the same sizes: same seed, same samples)."""
    mode = "early stopping (the default)" if early_stop else "full length"
    print(f"\n## compile=True: {name}, PGD-{steps} eps={eps:.4g}, {mode}, {len(x)} images, "
          f"batch {bs}")
    attack = PGD(eps=eps, steps=steps, step_size=2.5 * eps / steps, early_stop=early_stop,
                 seed=0)
    start = time.perf_counter()
    run_batched(attack, clf, (x, y), batch_size=bs, compile=True)  # compiles
    print(f"first compiled call (compilation included): {time.perf_counter() - start:.1f}s")
    runs = {label: functools.partial(run_batched, attack, clf, (x, y), batch_size=bs,
                                     compile=label == "compiled")
            for label in ("eager", "compiled")}
    seconds, out = alternating(runs, repeats)
    for label, result in out.items():
        print(f"  {label:<9} {seconds[label]:7.2f}s  robust acc "
              f"{100 * result.robust_accuracy().value:.2f}%")
    eager, fast = seconds["eager"], seconds["compiled"]
    print(f"eager {len(x) / eager:.1f} img/s, compiled {len(x) / fast:.1f} img/s: "
          f"speed-up {eager / fast:.2f}x")


def trained(arch: str, name: str, n: int, epochs: int, data_dir: str | None,
            recipe: str = "standard", **settings: Any) -> Classifier:
    options: dict[str, Any] = {"batches": (1,)} if name == "cifar10" else {}
    train = data.load(name, "train", data_dir=data_dir, **options)
    train = train.subset(n, seed=0)
    src = data.source(name)
    torch.manual_seed(0)
    clf = models.build_classifier(arch, input_shape=train.input_shape, num_classes=10,
                                  mean=src.mean, std=src.std)
    recipes.create(recipe, epochs=epochs, seed=0, **settings).fit(clf, train,
                                                                   show_progress=False)
    return clf


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir")
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--steps", type=int, default=10,
                        help="PGD steps of the throughput tables (brittle's two extra forward "
                             "passes weigh less the more steps there are)")
    parser.add_argument("--only", choices=PARTS, action="append",
                        help="run only this part (repeatable; default: all)")
    args = parser.parse_args()
    retained = retain_freed_memory()  # as the brittle command does; shared by all implementations
    parts = set(args.only or PARTS)
    repeats = 1 if args.quick else 5
    torch.manual_seed(0)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, freed memory "
          f"{'retained' if retained else 'returned to the system (glibc defaults)'}")

    lenet = trained("lenet5", "mnist", 2000 if args.quick else 10000, 2, args.data_dir)
    x, y = data.load("mnist", "test", data_dir=args.data_dir).subset(
        256 if args.quick else 1024, seed=0).tensors()
    if "throughput" in parts:
        throughput("LeNet-5 / MNIST", lenet, x, y, eps=0.3, steps=args.steps, bs=256,
                   repeats=repeats)
    if "layout" in parts:
        layout("LeNet-5 / MNIST", lenet, x[:256], y[:256], repeats=repeats)
    if "early-stop" in parts:
        early_stopping(lenet, x, y, eps=0.3, steps=40, bs=256, repeats=repeats)
    if "curves" in parts:
        # an even grid up to eps, and a finer one at the small budgets where samples stay robust
        for budgets in ([0.3 * i / 8 for i in range(1, 9)], [0.025 * i for i in range(1, 9)]):
            curve(lenet, x[:512], y[:512], budgets=budgets, steps=20, bs=256,
                  repeats=repeats)
        # a curve's natural use: a robust model, whose samples stay robust over several budgets
        robust = trained("lenet5", "mnist", 2000 if args.quick else 10000, 4, args.data_dir,
                         recipe="fast-at", optimizer="adam", lr=0.005, weight_decay=0.0,
                         batch_size=100, eps_warmup=2)
        curve(robust, x[:512], y[:512], budgets=[0.3 * i / 8 for i in range(1, 9)], steps=20,
              bs=256, repeats=repeats)
    if not parts & {"throughput", "layout", "compile"}:
        return
    resnet = trained("resnet20", "cifar10", 500 if args.quick else 2000, 1, args.data_dir)
    xc, yc = data.load("cifar10", "test", data_dir=args.data_dir).subset(
        128 if args.quick else 256, seed=0).tensors()
    if "throughput" in parts:
        throughput("ResNet-20 / CIFAR-10", resnet, xc, yc, eps=8 / 255, steps=args.steps,
                   bs=128, repeats=repeats)
    if "layout" in parts:
        layout("ResNet-20 / CIFAR-10", resnet, xc[:128], yc[:128], repeats=repeats)
    if "compile" in parts:
        # full length as in the throughput table, then the evaluation default at the usual
        # budget and at a small one that leaves more samples robust for more steps
        for eps, early_stop in ((8 / 255, False), (8 / 255, True), (1 / 255, True)):
            compiled("ResNet-20 / CIFAR-10", resnet, xc, yc, eps=eps, steps=10, bs=128,
                     repeats=repeats, early_stop=early_stop)


if __name__ == "__main__":
    main()
