"""Attack strength against torchattacks on real LeNet-5 checkpoints (issue 3's cross-checks).

On the same model, images and seed, robust accuracy (lower is stronger) of:

- brittle PGD against torchattacks PGD (same eps, steps, step size, one random start);
- brittle APGD-CE and APGD-T (100 steps) against torchattacks APGD and APGDT (100 steps);
- the AutoAttack standard cascade against each of its attacks run alone;
- the gradient-masking check that Square must not beat the white-box attacks (reported, not
  scored: it judges the model, not the attack);
- on the undefended model, PGD-40 at Linf 0.3, which must leave at most 1%.

Each check prints PASS or FAIL; the exit code is 1 if any fails. Use 1,000 images or more: on
200, one sample is already 0.5 pp and a random start decides the verdict.

    brittle train --model lenet5 --data mnist --recipe fast-at --epochs 10 --optimizer adam \\
        --lr 0.005 --weight-decay 0 --batch-size 100 --eps-warmup 2 --out runs/fast-at
    brittle train --model lenet5 --data mnist --epochs 8 --out runs/lenet
    python benchmarks/crosscheck.py --data-dir ../shared/data \\
        --robust runs/fast-at/model.safetensors --undefended runs/lenet/model.safetensors

Needs torchattacks (pip install --no-deps torchattacks==3.5.1).
"""

from __future__ import annotations

import argparse
import time

import torch
import torchattacks

from brittle import data, retain_freed_memory
from brittle._utils.stats import Rate
from brittle.attacks import create
from brittle.attacks.autoattack import AutoAttack
from brittle.attacks.base import AttackResult
from brittle.attacks.evaluate import run_batched
from brittle.attacks.masking import check_blackbox_vs_whitebox
from brittle.models import Classifier, load_classifier

TOLERANCE = 0.005  # brittle may be at most 0.5 pp weaker than the peer
SEED = 0


def peer_rate(clf: Classifier, attack: torchattacks.Attack, x: torch.Tensor, y: torch.Tensor,
              batch_size: int) -> Rate:
    torch.manual_seed(SEED)
    x_adv = torch.cat([attack(x[i:i + batch_size], y[i:i + batch_size])
                       for i in range(0, len(x), batch_size)])
    return Rate.of(int((clf.predict_logits(x_adv).argmax(1) == y).sum()), len(x))


def ours_rate(clf: Classifier, name: str, x: torch.Tensor, y: torch.Tensor, batch_size: int,
              **kwargs: object) -> Rate:
    attack = create(name, seed=SEED, **kwargs)
    return run_batched(attack, clf, (x, y), batch_size=batch_size, progress=False) \
        .robust_accuracy()


class Report:
    def __init__(self) -> None:
        self.failed = 0

    def compare(self, label: str, ours: Rate, theirs: Rate, seconds: float) -> None:
        ok = ours.value <= theirs.value + TOLERANCE
        self.failed += not ok
        print(f"{label:<34} brittle {100 * ours.value:6.2f}  torchattacks "
              f"{100 * theirs.value:6.2f}  (n={ours.n}, {seconds:5.0f} s)  "
              f"{'PASS' if ok else 'FAIL'}", flush=True)

    def check(self, label: str, ok: bool, detail: str) -> None:
        self.failed += not ok
        print(f"{label:<34} {detail}  {'PASS' if ok else 'FAIL'}", flush=True)


def pgd_pair(report: Report, clf: Classifier, x: torch.Tensor, y: torch.Tensor, eps: float,
             steps: int, batch_size: int) -> Rate:
    alpha = 2.5 * eps / steps
    start = time.perf_counter()
    ours = ours_rate(clf, "pgd", x, y, batch_size, eps=eps, steps=steps, step_size=alpha)
    theirs = peer_rate(clf, torchattacks.PGD(clf, eps=eps, alpha=alpha, steps=steps,
                                             random_start=True), x, y, batch_size)
    report.compare(f"PGD-{steps}, Linf {eps}", ours, theirs, time.perf_counter() - start)
    return ours


def robust_checks(report: Report, clf: Classifier, x: torch.Tensor, y: torch.Tensor, eps: float,
                  batch_size: int) -> None:
    pgd_pair(report, clf, x, y, eps, 40, batch_size)
    peers = {
        "apgd-ce": torchattacks.APGD(clf, norm="Linf", eps=eps, steps=100, n_restarts=1,
                                     loss="ce", seed=SEED),
        "apgd-t": torchattacks.APGDT(clf, norm="Linf", eps=eps, steps=100, n_restarts=1,
                                     n_classes=10, seed=SEED),
    }
    for name, peer in peers.items():
        start = time.perf_counter()
        ours = ours_rate(clf, name, x, y, batch_size, eps=eps, steps=100)
        theirs = peer_rate(clf, peer, x, y, batch_size)
        report.compare(f"{name.upper()} (100 steps), Linf {eps}", ours, theirs,
                       time.perf_counter() - start)
    cascade = AutoAttack(eps=eps, seed=SEED)
    parts: dict[str, Rate] = {}
    results: dict[str, AttackResult] = {}
    for part in cascade.components():
        start = time.perf_counter()
        results[part.name] = run_batched(part, clf, (x, y), batch_size=batch_size,
                                         progress=False)
        parts[part.name] = results[part.name].robust_accuracy()
        print(f"  alone: {part.name:<10} {parts[part.name]}  "
              f"({time.perf_counter() - start:.0f} s)", flush=True)
    whitebox = [r for name, r in results.items() if name != "square"]
    finding = check_blackbox_vs_whitebox(results["square"], whitebox)
    print(f"  gradient-masking check: {finding.severity}: {finding.message}", flush=True)
    start = time.perf_counter()
    whole = run_batched(cascade, clf, (x, y), batch_size=batch_size,
                        progress=False).robust_accuracy()
    seconds = time.perf_counter() - start
    weakest_gap = max(whole.value - p.value for p in parts.values())
    report.check(f"AutoAttack, Linf {eps}", weakest_gap <= 0,
                 f"cascade {whole} ({seconds:.0f} s) <= every part "
                 f"(min part {100 * min(p.value for p in parts.values()):.2f}%)")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data-dir", required=True)
    parser.add_argument("--robust", required=True, help="fast-at LeNet-5 checkpoint")
    parser.add_argument("--undefended", required=True, help="standard LeNet-5 checkpoint")
    parser.add_argument("--n", type=int, default=1000, help="MNIST test images (seeded subset)")
    parser.add_argument("--eps", type=float, default=0.3)
    parser.add_argument("--batch-size", type=int, default=500)
    args = parser.parse_args()
    retain_freed_memory()  # as the brittle command does; every implementation here shares it

    test = data.load("mnist", "test", data_dir=args.data_dir).subset(args.n, seed=SEED)
    x, y = test.tensors()
    report = Report()

    print(f"== fast-at LeNet-5 ({args.robust}), {args.n} MNIST test images")
    robust = load_classifier(args.robust).eval()
    robust_checks(report, robust, x, y, args.eps, args.batch_size)

    print(f"== undefended LeNet-5 ({args.undefended})")
    undefended = load_classifier(args.undefended).eval()
    ours = pgd_pair(report, undefended, x, y, 0.3, 40, args.batch_size)
    report.check("undefended PGD-40 at Linf 0.3", ours.value <= 0.01, f"{ours} <= 1%")
    return 1 if report.failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
