"""Accuracy and class disparity: per-class miss rates, the confusion matrix, confused pairs."""

from __future__ import annotations

from typing import Any

import torch

from brittle._utils.stats import Rate
from brittle.audit.context import AuditContext
from brittle.audit.images import png_base64

MAX_PAIRS = 8
EXAMPLES_PER_PAIR = 6


def confusion_matrix(labels: torch.Tensor, predictions: torch.Tensor, k: int) -> torch.Tensor:
    """``K x K`` counts, rows the true class and columns the predicted class."""
    flat = labels.long() * k + predictions.long()
    return torch.bincount(flat, minlength=k * k).reshape(k, k)


def run(ctx: AuditContext) -> dict[str, Any]:
    """Accuracy with its interval, miss rate per class, and the most confused class pairs."""
    probs = ctx.logits.softmax(1)
    confidence, pred = probs.max(1)
    k = ctx.classifier.num_classes
    confusion = confusion_matrix(ctx.y, pred, k)
    per_class_n = confusion.sum(1)
    correct = confusion.diag()
    per_class = [{"index": c, "name": ctx.class_names[c],
                  "miss": Rate.of(int(per_class_n[c] - correct[c]), int(per_class_n[c])).to_dict()}
                 for c in range(k) if per_class_n[c] > 0]
    return {"accuracy": Rate.of(int(correct.sum()), len(ctx.y)).to_dict(),
            "per_class": per_class, "confusion": confusion.tolist(),
            "confused_pairs": _pairs(ctx, confusion, pred, confidence)}


def _pairs(ctx: AuditContext, confusion: torch.Tensor, pred: torch.Tensor,
           confidence: torch.Tensor) -> list[dict[str, Any]]:
    off = confusion.clone()
    off.fill_diagonal_(0)
    counts, flat = off.flatten().sort(descending=True)
    k = confusion.shape[0]
    pairs = []
    for count, index in zip(counts.tolist()[:MAX_PAIRS], flat.tolist()[:MAX_PAIRS], strict=True):
        if count == 0:
            break
        true, predicted = divmod(index, k)
        members = torch.nonzero((ctx.y == true) & (pred == predicted)).flatten()
        # the most confident mistakes first: they are the ones worth looking at
        members = members[confidence[members].argsort(descending=True)][:EXAMPLES_PER_PAIR]
        pairs.append({"true": true, "predicted": predicted, "count": count,
                      "rate": Rate.of(count, int(confusion[true].sum())).to_dict(),
                      "examples": [{"index": int(i), "confidence": float(confidence[i]),
                                    "image_png": png_base64(ctx.x[i])} for i in members]})
    return pairs
