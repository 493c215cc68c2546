"""OOD detection: every registered detector, fitted on training data only, against each OOD
set (registered datasets converted to the model's input, and synthetic far-OOD images)."""

from __future__ import annotations

from typing import Any, Literal

import torch

from brittle import data, ood
from brittle.audit.context import AuditContext
from brittle.errors import BrittleError
from brittle.models.classifier import Classifier

SYNTHETIC: tuple[Literal["uniform", "gaussian", "constant"], ...] = ("uniform", "gaussian",
                                                                  "constant")
SYNTHETIC_N = 1000
HISTOGRAM_BINS = 30


def detectors(classifier: Classifier) -> list[ood.Detector]:
    """One detector of each registered kind with its default settings; deep k-NN reads every
    feature layer the model has (a model without convolutions has no ``last_conv``)."""
    layers = (*ood.available_layers(classifier), "logits")
    return [ood.create(name, layers=layers) if name == "deep_knn" else ood.create(name)
            for name in ood.names()]


def layers_needed(classifier: Classifier) -> list[str]:
    """Feature layers the detectors read, so the audit's one clean pass captures them."""
    return sorted({layer for det in detectors(classifier) for layer in det.layers} - {"logits"})


def run(ctx: AuditContext) -> dict[str, Any]:
    """Fit on a seeded subset of the training split, then score the audited images and every
    OOD set; AUROC, AUPR-In, AUPR-Out and FPR@95 with OOD as the positive class."""
    if ctx.train is None:
        return {"skipped": "no training split to fit the detectors on (they are fitted on "
                           "training data only)"}
    fitted, train_n = _fit(ctx)
    clf = ctx.classifier
    scores_in = {det.name: det.score(ctx.features, classifier=clf, x=ctx.x) for det in fitted}
    sets, results, histograms = [], [], []
    for name, kind, x_out, conversion in _ood_sets(ctx):
        sets.append({"name": name, "kind": kind, "n": len(x_out), "conversion": conversion})
        feats = ood.extract_features(clf, x_out, ctx.shared["ood_layers"],
                                     show_progress=ctx.show_progress)
        for det in fitted:
            out = det.score(feats, classifier=clf, x=x_out)
            results.append({"detector": det.name, "dataset": name,
                            **ood.ood_metrics(scores_in[det.name], out)})
            histograms.append(_histogram(det.name, name, scores_in[det.name], out))
    return {"convention": dict(ood.CONVENTION),
            "in_distribution": {"name": ctx.data_name, "n": len(ctx.y)},
            "fit": {"name": ctx.train.name, "split": ctx.train.split, "n": train_n},
            "detectors": [det.name for det in fitted],
            "settings": {det.name: det.settings() for det in fitted},
            "datasets": sets, "results": results, "histograms": histograms}


def _fit(ctx: AuditContext) -> tuple[list[ood.Detector], int]:
    assert ctx.train is not None
    train = ctx.train
    if len(train) > ctx.budget.ood_n:
        train = train.subset(ctx.budget.ood_n, seed=ctx.seed)
    x, y = train.tensors()
    feats = ood.extract_features(ctx.classifier, x, ctx.shared["ood_layers"],
                                 show_progress=ctx.show_progress)
    return ([det.fit(feats, y, seed=ctx.seed) for det in detectors(ctx.classifier)],
            len(train))


def _ood_sets(ctx: AuditContext) -> list[tuple[str, str, torch.Tensor, str]]:
    shape = ctx.classifier.input_shape
    sets = []
    for name in ctx.ood_sets:
        if name == ctx.data_name:
            raise BrittleError(f"OOD set {name!r} is the audited dataset itself")
        dataset = data.load(name, "test", data_dir=ctx.data_dir)
        if len(dataset) > ctx.budget.ood_n:
            dataset = dataset.subset(ctx.budget.ood_n, seed=ctx.seed)
        x, conversion = ood.convert_images(dataset.tensors()[0], shape)
        sets.append((name, "dataset", x, conversion))
    n = min(SYNTHETIC_N, ctx.budget.ood_n)
    for kind in SYNTHETIC:
        sets.append((kind, "synthetic", ood.synthetic(kind, n, shape, seed=ctx.seed), "none"))
    return sets


def _histogram(detector: str, dataset: str, scores_in: torch.Tensor,
               scores_out: torch.Tensor) -> dict[str, Any]:
    counts = ood.score_histograms(scores_in, scores_out, bins=HISTOGRAM_BINS)
    return {"detector": detector, "dataset": dataset, **counts}
