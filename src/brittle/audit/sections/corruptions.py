"""Common corruptions: accuracy per corruption and severity (MNIST-C or CIFAR-10-C), the
corruption error against a reference model, and one image under every corruption."""

from __future__ import annotations

from typing import Any

import torch

from brittle import corruptions
from brittle._utils.progress import progress
from brittle._utils.stats import Rate
from brittle.audit.context import AuditContext
from brittle.audit.images import png_base64
from brittle.models.classifier import Classifier

CHUNK = 2000
EXAMPLE_SEVERITY = 3


def run(ctx: AuditContext) -> dict[str, Any]:
    """Corrupt every audited image at every severity; hand the logits to calibration."""
    suite = corruptions.suite_for(ctx.x.shape)
    names = corruptions.SUITES[suite]
    severities = ctx.budget.severities
    logits: dict[tuple[str, int], torch.Tensor] = {}
    reference_errors: dict[str, list[float]] = {}
    results = []
    jobs = [(name, s) for name in names for s in severities]
    for name, severity in progress(jobs, enabled=ctx.show_progress, desc="corruptions"):
        corrupted = _corrupt(ctx.x, name, severity, suite, ctx.seed)
        logits[name, severity] = ctx.classifier.predict_logits(corrupted).cpu()
        correct = int((logits[name, severity].argmax(1) == ctx.y).sum())
        results.append({"corruption": name, "severity": severity,
                        "accuracy": Rate.of(correct, len(ctx.y)).to_dict()})
        if ctx.reference is not None:
            reference_errors.setdefault(name, []).append(_error(ctx.reference, corrupted, ctx.y))
    ctx.shared["corruption_logits"] = logits
    per_corruption = [{"corruption": name,
                       "mean_accuracy": _mean([r["accuracy"]["value"] for r in results
                                               if r["corruption"] == name])} for name in names]
    section: dict[str, Any] = {
        "suite": suite, "params_version": corruptions.PARAMS_VERSION[suite],
        "source": corruptions.SOURCES[suite], "severities": list(severities),
        "clean_accuracy": Rate.of(int((ctx.logits.argmax(1) == ctx.y).sum()),
                                  len(ctx.y)).to_dict(),
        "results": results, "per_corruption": per_corruption,
        "mean_accuracy": _mean([r["accuracy"]["value"] for r in results]),
        "mce": None, "reference": None, "examples": _examples(ctx, names, suite)}
    if ctx.reference is not None:
        _add_corruption_error(ctx, section, logits, reference_errors)
    return section


def _corrupt(x: torch.Tensor, name: str, severity: int, suite: str, seed: int) -> torch.Tensor:
    # chunks keep memory flat; ``start`` keys each image's randomness to its index
    return torch.cat([corruptions.corrupt(x[i:i + CHUNK], name, severity, suite=suite,
                                          seed=seed, start=i)
                      for i in range(0, len(x), CHUNK)])


def _error(model: Classifier, x: torch.Tensor, y: torch.Tensor) -> float:
    return float((model.predict_logits(x).argmax(1).cpu() != y).float().mean())


def _mean(values: list[float]) -> float:
    return sum(values) / len(values)


def _add_corruption_error(ctx: AuditContext, section: dict[str, Any],
                          logits: dict[tuple[str, int], torch.Tensor],
                          reference_errors: dict[str, list[float]]) -> None:
    """Hendrycks & Dietterich's CE per corruption and mCE, against ``ctx.reference``."""
    errors = {name: [float((logits[name, s].argmax(1) != ctx.y).float().mean())
                     for s in ctx.budget.severities] for name in reference_errors}
    ce = corruptions.corruption_error(errors, reference_errors)
    for row in section["per_corruption"]:
        row["ce"] = ce["ce"][row["corruption"]]
    section["mce"] = ce["mce"]
    section["reference"] = ctx.reference.card.get("arch", "reference model") \
        if ctx.reference is not None else None


def _examples(ctx: AuditContext, names: tuple[str, ...], suite: str) -> list[dict[str, Any]]:
    """The first correctly classified image, clean and under every corruption."""
    correct = torch.nonzero(ctx.logits.argmax(1) == ctx.y).flatten()
    i = int(correct[0]) if len(correct) else 0
    image = ctx.x[i:i + 1]
    examples = [{"corruption": "clean", "severity": 0, "image_png": png_base64(image[0])}]
    for name in names:
        corrupted = corruptions.corrupt(image, name, EXAMPLE_SEVERITY, suite=suite,
                                        seed=ctx.seed, start=i)
        examples.append({"corruption": name, "severity": EXAMPLE_SEVERITY,
                         "image_png": png_base64(corrupted[0])})
    return examples
