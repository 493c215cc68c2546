"""RENDERER FIXTURE: a realistic ``brittle.audit/1`` results dict for the HTML report tests.

This is not the output of a real audit. The numbers are chosen by hand to look like a LeNet-5
trained with the standard recipe and audited on the MNIST test set with the ``standard`` budget
(counts are consistent: rates are computed with :class:`Rate` from integer counts, confusion rows
sum to the class sizes). The embedded images are real handwritten digits: the MNIST test images
when the shared data folder is present, otherwise scikit-learn's embedded digits (upsampled to
28x28). Perturbations, corruptions, attribution maps and class-average maps of them are crude
stand-ins drawn here for display only.
"""

from __future__ import annotations

import base64
import copy
import functools
import gzip
import io
from typing import Any

import numpy as np
import torch
from PIL import Image
from scipy import ndimage

from brittle._utils.stats import Rate
from brittle.audit.sections.explain import heat_png, map_png
from conftest import real_data_dir

NAMES = [str(i) for i in range(10)]
CLASS_N = [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]  # MNIST test class sizes
ATTACK_N = [98, 114, 103, 101, 98, 89, 96, 103, 97, 101]  # the 1000-image attack subset
# (true, predicted): count. The big confusions of a typical LeNet-5 on MNIST.
CONFUSIONS = {(4, 9): 9, (9, 4): 10, (7, 2): 8, (2, 7): 6, (5, 3): 6, (3, 5): 5, (8, 3): 5,
              (6, 0): 5, (9, 7): 6, (8, 9): 4, (1, 8): 3, (2, 8): 4, (7, 9): 4, (6, 5): 4,
              (3, 8): 3, (0, 6): 2, (5, 8): 3, (8, 5): 3, (2, 3): 3, (1, 2): 2}
CORRUPTIONS = {"shot_noise": 0.3, "impulse_noise": 1.2, "glass_blur": 2.4, "motion_blur": 1.8,
               "shear": 0.9, "scale": 1.5, "rotate": 2.8, "brightness": 0.2, "translate": 6.0,
               "stripe": 1.0, "fog": 3.5, "spatter": 0.6, "dotted_line": 0.7, "zigzag": 2.2,
               "canny_edges": 3.0}  # accuracy points lost per severity step


def rate(k: float, n: int) -> dict[str, Any]:
    return Rate.of(round(k), n).to_dict()


def png(image: np.ndarray) -> str:
    """A 2-D float image in [0, 1] as a base64 PNG (grey, lossless)."""
    buffer = io.BytesIO()
    Image.fromarray(np.round(np.clip(image, 0, 1) * 255).astype(np.uint8), "L").save(buffer,
                                                                                    "PNG")
    return base64.b64encode(buffer.getvalue()).decode("ascii")


@functools.lru_cache(maxsize=1)
def digit_images() -> tuple[np.ndarray, np.ndarray]:
    """Real handwritten digits ``(N, 28, 28)`` in [0, 1] and labels: MNIST test or sklearn."""
    mnist = real_data_dir() / "mnist"
    if (mnist / "t10k-images-idx3-ubyte.gz").exists():
        with gzip.open(mnist / "t10k-images-idx3-ubyte.gz") as fh:
            x = np.frombuffer(fh.read(), np.uint8, offset=16)[:28 * 28 * 1000]
        with gzip.open(mnist / "t10k-labels-idx1-ubyte.gz") as fh:
            y = np.frombuffer(fh.read(), np.uint8, offset=8)[:1000]
        return x.reshape(-1, 28, 28) / 255.0, y.astype(int)
    from sklearn.datasets import load_digits

    bunch = load_digits()
    x = ndimage.zoom(bunch.images[:1000] / 16.0, (1, 3.5, 3.5), order=1)
    return np.clip(x, 0, 1), bunch.target[:1000].astype(int)


def of_class(label: int, count: int, skip: int = 0) -> list[tuple[int, np.ndarray]]:
    x, y = digit_images()
    return [(int(i), x[i]) for i in np.flatnonzero(y == label)[skip:skip + count]]


def confusion() -> np.ndarray:
    matrix = np.zeros((10, 10), dtype=int)
    for (t, p), c in CONFUSIONS.items():
        matrix[t, p] = c
    for t in range(10):
        matrix[t, t] = CLASS_N[t] - matrix[t].sum()
    return matrix


def accuracy_section(rng: np.random.Generator) -> dict[str, Any]:
    matrix = confusion()
    pairs = sorted(CONFUSIONS.items(), key=lambda kv: -kv[1])[:8]
    return {
        "accuracy": rate(np.trace(matrix), int(matrix.sum())),
        "per_class": [{"index": c, "name": NAMES[c], "miss": rate(CLASS_N[c] - matrix[c, c],
                                                                  CLASS_N[c])} for c in range(10)],
        "confusion": matrix.tolist(),
        "confused_pairs": [
            {"true": t, "predicted": p, "count": c, "rate": rate(c, CLASS_N[t]),
             "examples": [{"index": i, "confidence": round(float(rng.uniform(0.5, 0.99)), 3),
                           "image_png": png(img)} for i, img in of_class(t, 6, 6 * rank)]}
            for rank, ((t, p), c) in enumerate(pairs)],
    }


def adversarial_section(rng: np.random.Generator) -> dict[str, Any]:
    eps = [0.0, 0.05, 0.1, 0.15, 0.2, 0.3]
    curves = [("fgsm", [987, 951, 802, 553, 331, 98]), ("pgd", [987, 934, 710, 382, 141, 9])]
    robust = [0.86, 0.93, 0.70, 0.62, 0.55, 0.58, 0.78, 0.71, 0.52, 0.40]  # share of clean-correct
    ll_robust = [0.95, 0.98, 0.90, 0.88, 0.85, 0.86, 0.93, 0.90, 0.83, 0.80]

    def per_class(shares: list[float]) -> list[dict[str, Any]]:
        rows = []
        for c in range(10):
            n, correct = ATTACK_N[c], ATTACK_N[c] - (c == 9) - (c == 4)
            held = round(correct * shares[c])
            rows.append({"index": c, "name": NAMES[c], "clean_accuracy": rate(correct, n),
                         "robust_accuracy": rate(held, n), "attack_success": rate(correct - held,
                                                                                  correct)})
        return rows

    untargeted = per_class(robust)
    adv_conf = np.zeros((10, 10), dtype=int)
    flips = {0: 6, 1: 8, 2: 3, 3: 5, 4: 9, 5: 3, 6: 5, 7: 9, 8: 3, 9: 4}
    for c, row in enumerate(untargeted):
        held, correct = row["robust_accuracy"]["k"], row["clean_accuracy"]["k"]
        adv_conf[c, c] = held
        adv_conf[c, flips[c]] += (correct - held) * 2 // 3
        rest = correct - held - (correct - held) * 2 // 3
        for other in rng.choice([o for o in range(10) if o not in (c, flips[c])], rest):
            adv_conf[c, other] += 1
    examples = []
    for label in (4, 9, 7, 3, 8, 2, 5, 0):
        _, image = of_class(label, 1)[0]
        delta = 0.1 * np.sign(rng.normal(size=image.shape)) * (ndimage.binary_dilation(
            image > 0.2, iterations=3))
        adv = np.clip(image + delta, 0, 1)
        confidences = rng.uniform([0.95, 0.5], [1.0, 0.95]).round(3).tolist()
        examples.append({"label": label, "clean_pred": label, "clean_conf": confidences[0],
                         "adv_pred": flips[label], "adv_conf": confidences[1],
                         "original_png": png(image),
                         "perturbation_png": png(0.5 + 10 * (adv - image)),
                         "adversarial_png": png(adv)})
    checks = [("gradients", False, "high", "input gradients are finite and non-zero"),
              ("determinism", False, "high", "repeated forward passes agree"),
              ("unbounded_attack", False, "high", "an unbounded attack drives accuracy to 0.0%"),
              ("blackbox_vs_whitebox", False, "medium",
               "white-box attacks are at least as strong as the black-box Square attack"),
              ("eps_monotone", False, "medium", "robust accuracy does not rise with eps"),
              ("steps_monotone", True, "low",
               "robust accuracy rises by 0.4 pp from 20 to 40 steps (within noise, n=1000)")]
    return {
        "attack": {"name": "pgd", "norm": "linf", "eps": 0.1, "steps": 40},
        "curves": [{"attack": a, "norm": "linf", "eps": eps, "robust_accuracy": [
            rate(k, 1000) for k in ks]} for a, ks in curves]
        + [{"attack": "autoattack", "norm": "linf", "eps": [0.1], "robust_accuracy": [
            rate(688, 1000)]}],
        "per_class": {"untargeted": untargeted, "least-likely": per_class(ll_robust)},
        "confusion": adv_conf.tolist(),
        "spearman": {"rho": 0.71, "p_value": 0.022, "n_classes": 10, "x": "miss rate",
                     "y": "attack success (untargeted)"},
        "masking": [{"check": c, "flagged": f, "severity": s, "message": m,
                     "evidence": {"n": 1000}} for c, f, s, m in checks],
        "examples": examples,
    }


def corrupt(name: str, image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Crude severity-3 look-alikes of the MNIST-C corruptions, for display in the fixture."""
    yy, xx = np.mgrid[:28, :28]
    lines = {"dotted_line": (yy == xx) & (xx % 3 == 0), "zigzag": np.abs(yy - 14 - 4 * np.sign(
        np.sin(xx / 2.5))) < 1, "stripe": (xx > 11) & (xx < 15)}
    if name in lines:
        return np.where(lines[name], 1 - image if name == "stripe" else 1.0, image)
    ops = {
        "shot_noise": lambda: rng.poisson(image * 12) / 12,
        "impulse_noise": lambda: np.where(rng.random(image.shape) < 0.1,
                                          rng.integers(0, 2, image.shape), image),
        "glass_blur": lambda: ndimage.gaussian_filter(image, 1.0),
        "motion_blur": lambda: ndimage.uniform_filter1d(image, 6, axis=1),
        "shear": lambda: ndimage.affine_transform(image, [[1, 0.4], [0, 1]], offset=(0, -5.6)),
        "scale": lambda: ndimage.affine_transform(image, [[1.5, 0], [0, 1.5]], offset=(-7, -7)),
        "rotate": lambda: ndimage.rotate(image, 35, reshape=False),
        "brightness": lambda: image + 0.4,
        "translate": lambda: ndimage.shift(image, (4, -5)),
        "fog": lambda: image + 0.6 * ndimage.gaussian_filter(rng.random(image.shape), 3) * 3,
        "spatter": lambda: np.maximum(image, ndimage.gaussian_filter(
            rng.random(image.shape), 1) > 0.58),
        "canny_edges": lambda: np.hypot(ndimage.sobel(image, 0), ndimage.sobel(image, 1)) > 1,
    }
    return np.asarray(ops[name](), dtype=float)


def corruptions_section(rng: np.random.Generator, clean: int) -> dict[str, Any]:
    results, per = [], []
    for name, drop in CORRUPTIONS.items():
        accs = [clean - 100 * drop * s ** 1.3 for s in range(1, 6)]
        results += [{"corruption": name, "severity": s, "accuracy": rate(max(a, 900), 10000)}
                     for s, a in zip(range(1, 6), accs, strict=True)]
        per.append({"corruption": name, "mean_accuracy": round(sum(max(a, 900) for a in accs)
                                                               / 50000, 4), "ce": None})
    _, image = of_class(7, 1)[0]
    examples = [{"corruption": "clean", "severity": 0, "image_png": png(image)}]
    examples += [{"corruption": c, "severity": 3, "image_png": png(corrupt(c, image, rng))}
                 for c in CORRUPTIONS]
    return {"suite": "mnist-c", "params_version": "mnist-c/1", "severities": [1, 2, 3, 4, 5],
            "clean_accuracy": rate(clean, 10000), "results": results, "per_corruption": per,
            "mean_accuracy": round(sum(p["mean_accuracy"] for p in per) / len(per), 4),
            "mce": None, "reference": None, "examples": examples}


def ood_section(rng: np.random.Generator) -> dict[str, Any]:
    detectors = ["msp", "max_logit", "energy", "odin", "mahalanobis", "vim", "knn", "deep_knn"]
    sets = [("fashion-mnist", "dataset", 10000, "none", 0.0),
            ("kmnist", "dataset", 10000, "none", -0.05),
            ("cifar10", "dataset", 10000, "resized 32x32 -> 28x28, rgb -> grey", 0.02),
            ("uniform-noise", "synthetic", 2000, "none", 0.03)]
    base = [0.946, 0.962, 0.965, 0.958, 0.991, 0.985, 0.979, 0.983]
    results, hists = [], []
    for name, _, n, _, shift in sets:
        for d, b in zip(detectors, base, strict=True):
            auroc = min(0.999, b + shift + float(rng.normal(0, 0.004)))
            results.append({"detector": d, "dataset": name, "auroc": round(auroc, 4),
                            "aupr_in": round(auroc - 0.01, 4), "aupr_out": round(auroc + 0.004,
                                                                                 4),
                            "fpr95": round(min(1.0, 4.8 * (1 - auroc)), 4)})
            gap = 3.4 * (auroc - 0.5)
            edges = np.linspace(-4, 4 + gap, 31)
            hists.append({"detector": d, "dataset": name, "edges": edges.round(4).tolist(),
                          "in": np.histogram(rng.normal(-1, 1, 10000), edges)[0].tolist(),
                          "out": np.histogram(rng.normal(-1 + gap, 1.2, n), edges)[0].tolist()})
    return {"convention": {"positive": "ood", "score": "higher means more OOD"},
            "in_distribution": {"name": "mnist", "n": 10000},
            "fit": {"name": "mnist", "split": "train", "n": 10000}, "detectors": detectors,
            "datasets": [{"name": s, "kind": k, "n": n, "conversion": c}
                         for s, k, n, c, _ in sets],
            "results": results, "histograms": hists}


def diagram(accuracy: list[float | None], counts: list[int]) -> dict[str, Any]:
    edges = np.linspace(0, 1, 16)
    conf = [None if a is None else round(float(edges[i] + edges[i + 1]) / 2, 4)
            for i, a in enumerate(accuracy)]
    return {"edges": edges.round(4).tolist(), "accuracy": accuracy, "confidence": conf,
            "counts": counts}


def calibration_section() -> dict[str, Any]:
    counts = [0, 0, 0, 0, 2, 3, 5, 7, 9, 12, 14, 19, 27, 58, 4844]
    before = [None, None, None, None, 0.0, 0.33, 0.2, 0.29, 0.33, 0.42, 0.43, 0.53, 0.56, 0.71,
              0.994]
    after = [None, None, None, None, 0.5, 0.33, 0.4, 0.43, 0.56, 0.58, 0.71, 0.68, 0.78, 0.86,
             0.997]
    keys = ["ece", "ece_equal_mass", "classwise_ece", "rms", "mce", "brier", "nll", "accuracy"]
    shift = [{"corruption": c, "severity": s, "accuracy": round(0.9875 - d * s ** 1.3 / 100, 4),
              "ece": round(0.004 + d * s ** 1.3 / 250, 4), "nll": round(0.04 + d * s / 60, 4),
              "brier": round(0.02 + d * s / 120, 4)}
             for c, d in list(CORRUPTIONS.items())[:5] for s in range(1, 6)]
    return {"bins": 15, "split": {"fit_n": 5000, "eval_n": 5000}, "temperature": 1.42,
            "before": dict(zip(keys, [0.0121, 0.0117, 0.0031, 0.041, 0.29, 0.0198, 0.0452,
                                      0.9876], strict=True)),
            "after": dict(zip(keys, [0.0043, 0.0049, 0.0019, 0.017, 0.14, 0.0189, 0.0371,
                                     0.9876], strict=True)),
            "reliability": {"before": diagram(before, counts), "after": diagram(after, counts)},
            "under_shift": shift}


def _maps(image: np.ndarray, rng: np.random.Generator) -> dict[str, torch.Tensor]:
    """Crude look-alikes of each explainer's map of a digit, for display in the fixture."""
    edges = ndimage.sobel(ndimage.gaussian_filter(image, 1.0), 1)
    noise = rng.normal(0, 0.3, image.shape) * ndimage.binary_dilation(image > 0.2, iterations=4)
    coarse = ndimage.zoom(ndimage.zoom(image, 10 / 28, order=1), 28 / 10, order=1)[:28, :28]
    maps = {"saliency": edges + noise, "smoothgrad": ndimage.gaussian_filter(edges + noise, 1),
            "integrated_gradients": image * (edges + 0.5 * noise),
            "gradcam": coarse, "gradcam_plus_plus": np.sqrt(np.clip(coarse, 0, None))}
    return {m: torch.tensor(v, dtype=torch.float32)[None] for m, v in maps.items()}


def _map_png(method: str, image: np.ndarray, attribution: torch.Tensor) -> str:
    return map_png(torch.tensor(image, dtype=torch.float32)[None], attribution,
                   signed="gradcam" not in method)


def explain_section(rng: np.random.Generator) -> dict[str, Any]:
    methods = ["gradcam", "gradcam_plus_plus", "integrated_gradients", "saliency", "smoothgrad"]
    x, y = digit_images()
    examples = []
    for i in (12, 57, 103, 250, 318, 402, 611, 777):
        maps = _maps(x[i], rng)
        wrong = i == 318  # one mistake among the examples
        examples.append({"index": i, "label": int(y[i]), "pred": (int(y[i]) + 5) % 10 if wrong
                         else int(y[i]), "confidence": 0.64 if wrong else
                         round(float(rng.uniform(0.97, 1.0)), 4), "image_png": png(x[i]),
                         "maps": {m: _map_png(m, x[i], maps[m]) for m in methods}})
    layers = ["fc3", "fc2", "fc1", "conv2", "conv1"]
    curves = {"gradcam": [0.13, -0.07, 0.09, 0.16, 0.23], "gradcam_plus_plus": [0.25, 0.02,
                                                                                0.04, 0.05, -0.12],
              "saliency": [0.64, 0.60, 0.50, 0.42, 0.32]}
    sanity = {name: {"method": name, "layers": layers,
                     "spearman_raw": [round(v / 2, 3) for v in curve], "spearman_abs": curve,
                     "ssim": [round(0.8 * v, 3) for v in curve], "final_spearman_abs": curve[-1],
                     "passed": curve[-1] < 0.5} for name, curve in curves.items()}
    adversarial = []
    for i, (label, adv) in zip((478, 487, 666, 700), ((5, 3), (9, 4), (7, 9), (1, 7)),
                               strict=True):
        _, image = of_class(label, 1, 2)[0]
        delta = 0.3 * np.sign(rng.normal(size=image.shape))
        attacked = np.clip(image + delta, 0, 1)
        clean_maps, adv_maps = _maps(image, rng), _maps(attacked, rng)
        row: dict[str, Any] = {"index": i, "label": label, "adv_pred": adv,
                               "adv_conf": round(float(rng.uniform(0.45, 0.8)), 3),
                               "clean_png": png(image), "adversarial_png": png(attacked)}
        for m in ("saliency", "gradcam"):
            row[f"clean_{m}_png"] = _map_png(m, image, clean_maps[m])
            row[f"adversarial_{m}_png"] = _map_png(m, attacked, adv_maps[m])
        row["similarity"] = {m: {"spearman_abs": round(float(rng.uniform(0.0, 0.5)), 3),
                                 "ssim": round(float(rng.uniform(0.1, 0.6)), 3)}
                             for m in ("saliency", "gradcam")}
        adversarial.append(row)
    return {"methods": methods,
            "display": {m: "overlay" if "gradcam" in m else "signed" for m in methods},
            "settings": {"gradcam": {"batch_size": 256, "layer": "last_conv"},
                         "integrated_gradients": {"steps": 32, "method": "gausslegendre"},
                         "smoothgrad": {"samples": 25, "noise": 0.15, "seed": 0}},
            "examples": examples,
            "sanity": {"criterion": "mean Spearman rank correlation of absolute maps after full "
                                    "randomization < 0.5", "threshold": 0.5, "n": 16, "seed": 0,
                       "passed": {m: v["passed"] for m, v in sanity.items()}, "methods": sanity},
            "completeness": {"mean_gap": 0.0026, "max_gap": 0.0089, "n": 16, "steps": 32,
                             "method": "gausslegendre", "baseline": "black image (0)"},
            "clean_vs_adversarial": {"attack": {"name": "pgd", "norm": "linf", "eps": 0.3,
                                                "steps": 20, "tried": 64, "broken": 64},
                                     "methods": ["saliency", "gradcam"],
                                     "examples": adversarial}}


def _group(values: list[float], n: int) -> dict[str, Any]:
    return {"n": n, "mean": values[0], "median": values[1], "std": values[2]}


def _pair(true: int, pred: int, n_errors: int, shares: dict[str, tuple[float, float, float]],
          background: tuple[float, float, float]) -> dict[str, Any]:
    """A root-cause card: (errors mean, correct mean, p) per method, and the border intensity."""
    x, y = digit_images()
    errors = [img for _, img in of_class(true, n_errors, 40)]
    errors = [0.6 * e + 0.4 * x[np.flatnonzero(y == pred)[k]] for k, e in enumerate(errors)]
    correct = x[y == true][:256]
    images = {"errors": np.mean(errors, 0), "correct": correct.mean(0)}
    pair: dict[str, Any] = {
        "true_class": true, "predicted_class": pred, "true_name": NAMES[true],
        "predicted_name": NAMES[pred], "n_errors": n_errors, "n_correct": 256,
        "explained": {"errors": "predicted class", "correct": "true class"}, "band": 3,
        "border_area_share": 0.3827, "border_share": {}, "background": {},
        "test": "two-sided Mann-Whitney U, errors vs correct; effect size = rank-biserial "
                "correlation 2U/(n1 n2) - 1 (positive: errors larger)",
        "mean_images": {f"{g}_png": png(v) for g, v in images.items()}, "mean_maps": {}}
    for method, (e, c, p) in shares.items():
        effect = round(-0.5 if e < c else 0.5, 3) if p < 0.05 else round((e - c) * 3, 3)
        pair["border_share"][method] = {
            "errors": _group([e, e, 0.04], n_errors), "correct": _group([c, c, 0.05], 256),
            "test": {"u": 400.0, "p_value": p, "effect_size": effect}}
        density = {g: ndimage.gaussian_filter(v, 2 if method == "gradcam" else 0.7)
                   for g, v in images.items()}
        vmax = max(float(np.percentile(d, 99)) for d in density.values())
        pair["mean_maps"][method] = {f"{g}_png": heat_png(torch.tensor(d), vmax)
                                     for g, d in density.items()}
    e, c, p = background
    pair["background"]["intensity"] = {
        "errors": _group([e, 0.0, 0.004], n_errors), "correct": _group([c, 0.0, 0.006], 256),
        "test": {"u": 600.0, "p_value": p, "effect_size": 0.64 if e > c else -0.32}}
    return pair


def diagnose_section(rng: np.random.Generator) -> dict[str, Any]:
    pairs = [_pair(9, 4, 10, {"saliency": (0.094, 0.104, 0.142), "gradcam": (0.209, 0.309,
                                                                              0.028)},
                   (0.003, 0.0085, 0.016)),
             _pair(4, 9, 9, {"saliency": (0.118, 0.096, 0.004), "gradcam": (0.301, 0.353,
                                                                             0.539)},
                   (0.0054, 0.0011, 0.0006)),
             _pair(7, 2, 8, {"saliency": (0.092, 0.105, 0.066), "gradcam": (0.23, 0.36, 0.011)},
                   (0.0, 0.003, 0.079))]
    x, y = digit_images()
    suspects = []
    for rank, (given, pred) in enumerate([(6, 4), (5, 6), (8, 9), (8, 9), (4, 9), (7, 1),
                                          (3, 5), (2, 7), (9, 4), (1, 7), (0, 6), (5, 3)],
                                         start=1):
        i = int(np.flatnonzero(y == pred)[30 + rank])  # looks like pred, labelled given
        p_given = round(0.002 * rank ** 1.8, 4)
        suspects.append({"rank": rank, "index": i, "given": given, "given_name": NAMES[given],
                         "predicted": pred, "predicted_name": NAMES[pred], "score": p_given,
                         "p_given": p_given, "p_predicted": round(0.99 - 2 * p_given, 4),
                         "image_png": png(x[i])})
    ambiguous = []
    for rank, (top1, top2) in enumerate([(4, 9), (7, 2), (3, 5), (1, 7), (9, 7), (5, 8),
                                         (2, 3), (6, 0)], start=1):
        i = int(np.flatnonzero(y == top1)[60 + rank])
        margin = round(0.012 * rank, 3)
        ambiguous.append({"rank": rank, "index": i, "top1": top1, "top2": top2,
                          "margin": margin, "entropy": round(0.35 - margin, 3),
                          "top1_name": NAMES[top1], "top2_name": NAMES[top2],
                          "image_png": png(x[i])})
    noise = [rate(k, CLASS_N[c]) for c, k in enumerate([2, 1, 3, 2, 4, 3, 2, 3, 5, 6])]
    return {"pairs": pairs, "min_errors": 2, "suspects": {
        "method": "prune_by_noise_rate", "rank_by": "self_confidence", "n": 10000, "count": 31,
        "source": "softmax of the audited model on the audited images (out-of-sample when the "
                  "model never trained on them)",
        "estimated_noise_rate": rate(31, 10000),
        "noise_rates": [{"label": c, "name": NAMES[c], **r} for c, r in enumerate(noise)],
        "top": suspects,
        "ambiguous": {"by": "margin", "threshold": 0.1, "count": 20, "top": ambiguous}}}


@functools.lru_cache(maxsize=1)
def _build() -> dict[str, Any]:
    rng = np.random.default_rng(0)
    accuracy = accuracy_section(rng)
    sections = {"accuracy": accuracy, "adversarial": adversarial_section(rng),
                "corruptions": corruptions_section(rng, accuracy["accuracy"]["k"]),
                "ood": ood_section(rng), "calibration": calibration_section(),
                "explain": explain_section(rng), "diagnose": diagnose_section(rng)}
    auroc = {r["detector"]: r["auroc"] for r in sections["ood"]["results"]
             if r["dataset"] == "kmnist"}
    translate = next(r["accuracy"]["value"] for r in sections["corruptions"]["results"]
                     if r["corruption"] == "translate" and r["severity"] == 5)
    findings = [
        ("high", "adversarial", "adversarial-curves", "Small perturbations break it",
         "PGD at eps=0.1 leaves robust accuracy 71.0% [68.1, 73.7] n=1000 (clean 98.7%); "
         "AutoAttack confirms 68.8%."),
        ("high", "corruptions", "corruptions-table", "Translation breaks it",
         f"Shifting the digit by a few pixels drops accuracy to {translate:.1%} at severity 5 "
         f"(clean {accuracy['accuracy']['value']:.1%})."),
        ("medium", "adversarial", "adversarial-classes", "Class 9 breaks first",
         "60% of correctly classified 9s are flipped at eps=0.1, mostly into 4; classes the "
         "model already confuses are the easiest to attack (Spearman rho=0.71)."),
        ("medium", "ood", "ood-table", "MSP misses look-alike data",
         f"MSP separates KMNIST from MNIST with AUROC {auroc['msp']:.2f} only; Mahalanobis "
         f"reaches {auroc['mahalanobis']:.2f}."),
        ("low", "calibration", "calibration-reliability", "Slightly overconfident",
         "ECE 1.2% falls to 0.4% after temperature scaling (T=1.42)."),
    ]
    return {
        "schema": "brittle.audit/1",
        "run": {"seed": 0, "budget": "standard", "started": "2026-11-21T10:00:00Z",
                "seconds_total": 312.4, "seconds": {"forward": 2.1, "accuracy": 0.3,
                                                    "adversarial": 120.5, "corruptions": 80.2,
                                                    "ood": 40.1, "calibration": 5.0,
                                                    "explain": 1.0, "diagnose": 0.3},
                "versions": {"brittle": "0.1.0", "torch": "2.13.0", "python": "3.11.7",
                             "numpy": "2.2.1"}, "device": "cpu",
                "command": "brittle audit runs/m/model.safetensors --data mnist"},
        "model": {"architecture": "lenet5", "parameters": 61706, "input_shape": [1, 28, 28],
                  "num_classes": 10, "class_names": NAMES, "recipe": "standard",
                  "checkpoint": "runs/m/model.safetensors", "card": {"seed": 0}},
        "data": {"name": "mnist", "split": "test", "n": 10000, "n_available": 10000,
                 "train_name": "mnist", "train_n": 10000},
        "budget": {"name": "standard", "n": 10000, "attack_n": 1000,
                   "eps": [0.0, 0.05, 0.1, 0.15, 0.2, 0.3], "pgd_steps": 40, "autoattack": True},
        "findings": [{"id": f"f{i + 1}", "severity": s, "section": sec, "anchor": a, "title": t,
                      "text": x} for i, (s, sec, a, t, x) in enumerate(findings)],
        "sections": sections,
    }


def example_result() -> dict[str, Any]:
    """A fresh deep copy of the fixture (tests may mutate it)."""
    return copy.deepcopy(_build())
