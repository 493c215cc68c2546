"""``brittle.audit``: every safety axis of a classifier in one run, one result, one report."""

from __future__ import annotations

import logging
import platform
import sys
import time
from collections.abc import Callable, Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from brittle import data as datasets
from brittle._utils.atomic import ensure_writable_dir
from brittle._utils.seeding import seed_everything
from brittle._version import __version__
from brittle.audit.budget import Budget, get_budget
from brittle.audit.context import AuditContext
from brittle.audit.findings import findings
from brittle.audit.result import AuditResult
from brittle.audit.sections import accuracy, adversarial, calibration, corruptions, diagnose
from brittle.audit.sections import explain as explain_section
from brittle.audit.sections import ood as ood_section
from brittle.data.base import ImageDataset
from brittle.errors import BrittleError, DataError
from brittle.evaluation import check_compatible
from brittle.models.classifier import Classifier, as_classifier
from brittle.ood import extract_features

log = logging.getLogger(__name__)

# corruptions run before calibration, which reuses their logits
SECTIONS: dict[str, Callable[[AuditContext], dict[str, Any]]] = {
    "accuracy": accuracy.run, "adversarial": adversarial.run, "corruptions": corruptions.run,
    "ood": ood_section.run, "calibration": calibration.run, "explain": explain_section.run,
    "diagnose": diagnose.run}


def audit(classifier: Classifier | nn.Module, data: str | ImageDataset, *,
          ood: Sequence[str] = (), sections: Sequence[str] | None = None,
          budget: str | Budget = "standard", n: int | None = None, seed: int = 0,
          out: str | Path | None = None, eps: float | None = None,
          train: ImageDataset | None = None, reference: Classifier | None = None,
          data_dir: str | Path | None = None, checkpoint: str | None = None,
          show_progress: bool | None = None, **facts: Any) -> AuditResult:
    """Audit ``classifier`` on ``data``: accuracy, adversarial, corruptions, OOD, calibration,
    explanations and diagnoses (root causes of confused pairs, suspect labels).

    Args:
        classifier: A :class:`Classifier`, or a bare module plus ``facts`` (``input_shape``,
            ``mean``, ``std``, ``class_names``...).
        data: A registered dataset name (its test split is audited and its training split fits
            the OOD detectors) or an :class:`ImageDataset`.
        ood: Registered dataset names used as OOD sets (converted to the model's input);
            synthetic far-OOD sets (uniform, Gaussian, constant) are always added.
        sections: Which sections to run (default all, see :data:`SECTIONS`).
        budget: ``quick``, ``standard`` or ``thorough`` (or a :class:`Budget`).
        n: Audit a seeded subset of ``n`` test images (default: the budget's).
        seed: Seeds every subset and attack; the same seed gives the same numbers on the CPU.
        out: Directory for ``results.json`` and ``report.html`` (written only at the end,
            atomically, so a crash leaves neither).
        eps: Main Linf budget (default 0.3 for grey images, 8/255 for colour).
        train: Training images for the OOD detectors when ``data`` is a dataset object.
        reference: A reference model for the corruption error (CE, mCE).
        data_dir: Where datasets live (default ``BRITTLE_DATA``).
        checkpoint: The checkpoint path, recorded in the result.
        show_progress: Progress bars (``None``: only on a terminal).

    Returns:
        The :class:`AuditResult`.

    Example:
        >>> import brittle  # doctest: +SKIP
        >>> clf = brittle.load_classifier("runs/demo/model.safetensors")  # doctest: +SKIP
        >>> result = brittle.audit(clf, "digits", out="runs/audit")  # doctest: +SKIP
        >>> print(result.summary())  # doctest: +SKIP
    """
    chosen = _sections(sections)
    plan = get_budget(budget)
    out_dir = ensure_writable_dir(out) if out is not None else None
    clf = as_classifier(classifier, **facts)
    test, train_set, data_name = _datasets(data, data_dir, train, "ood" in chosen)
    test = _sized(test, n, plan.n, seed)
    check_compatible(clf, test)
    seed_everything(seed)
    started = datetime.now(timezone.utc).isoformat(timespec="seconds")
    clock = time.perf_counter()
    layers = ood_section.layers_needed(clf) if "ood" in chosen else []
    x, y = test.tensors()
    # the one clean forward pass of the audited images: every section shares it
    features = extract_features(clf, x, layers, show_progress=show_progress)
    seconds = {"forward": time.perf_counter() - clock}
    ctx = AuditContext(classifier=clf, x=x, y=y, features=features, budget=plan, seed=seed,
                       eps=_eps(eps, clf), data_name=data_name, train=train_set,
                       ood_sets=tuple(ood), data_dir=data_dir, reference=reference,
                       show_progress=show_progress)
    ctx.shared["ood_layers"] = layers
    results: dict[str, Any] = {}
    for name, section in SECTIONS.items():
        if name in chosen:
            start = time.perf_counter()
            log.info("audit section %s", name)
            results[name] = section(ctx)
            seconds[name] = time.perf_counter() - start
    result = AuditResult(
        run={"seed": seed, "budget": plan.name, "started": started,
             "seconds_total": time.perf_counter() - clock, "seconds": seconds,
             "versions": {"brittle": __version__, "torch": torch.__version__,
                          "numpy": np.__version__, "python": platform.python_version()},
             "device": str(clf.device), "command": " ".join(sys.argv) or None},
        model=_model_facts(clf, checkpoint), budget={**plan.to_dict(), "eps": ctx.eps},
        data={"name": data_name, "split": test.split, "n": len(test),
              "train_name": train_set.name if train_set is not None else None,
              "ood": list(ood)},
        findings=findings(results), sections=results)
    if out_dir is not None:
        write_outputs(result, out_dir)
    return result


def write_outputs(result: AuditResult, out_dir: Path) -> tuple[Path, Path]:
    """``results.json`` and the self-contained ``report.html`` rendered from it."""
    from brittle.report.render import write_report  # the report is a face: imported on use

    json_path = result.save(out_dir / "results.json")
    return json_path, write_report(result.to_dict(), out_dir / "report.html")


def _sections(sections: Sequence[str] | None) -> list[str]:
    if sections is None:
        return list(SECTIONS)
    unknown = [s for s in sections if s not in SECTIONS]
    if unknown or not sections:
        raise BrittleError(f"unknown audit section(s) {', '.join(unknown) or '(none given)'}; "
                           f"choose from {', '.join(SECTIONS)}")
    return list(sections)


def _datasets(data: str | ImageDataset, data_dir: str | Path | None,
              train: ImageDataset | None,
              need_train: bool) -> tuple[ImageDataset, ImageDataset | None, str]:
    if isinstance(data, ImageDataset):
        return data, train, data.name
    test = datasets.load(data, "test", data_dir=data_dir)
    if train is None and need_train:
        try:
            train = datasets.load(data, "train", data_dir=data_dir)
        except DataError as exc:
            log.warning("no training split for OOD detectors: %s", exc)
    return test, train, data


def _sized(dataset: ImageDataset, n: int | None, budget_n: int | None,
           seed: int) -> ImageDataset:
    """The seeded subset to audit: ``n`` if given (it must fit), else the budget's size
    (or everything, for a dataset smaller than the budget)."""
    if len(dataset) == 0:
        raise BrittleError(f"dataset {dataset.name!r} is empty")
    if n is not None and not 1 <= n <= len(dataset):
        raise BrittleError(f"n={n} but {dataset.name!r} {dataset.split} has {len(dataset)} "
                           "images")
    size = n if n is not None else budget_n
    if size is None or size >= len(dataset):
        return dataset
    return dataset.subset(size, seed=seed)


def _eps(eps: float | None, clf: Classifier) -> float:
    if eps is None:
        return 0.3 if clf.input_shape[0] == 1 else 8 / 255
    if not 0 < eps <= clf.bounds[1] - clf.bounds[0]:
        raise BrittleError(f"eps must be in (0, {clf.bounds[1] - clf.bounds[0]}], got {eps}")
    return float(eps)


def _model_facts(clf: Classifier, checkpoint: str | None) -> dict[str, Any]:
    return {"architecture": clf.card.get("arch", type(clf.model).__name__),
            "parameters": sum(p.numel() for p in clf.parameters()),
            "input_shape": list(clf.input_shape), "num_classes": clf.num_classes,
            "class_names": list(clf.class_names), "recipe": clf.card.get("recipe"),
            "checkpoint": checkpoint, "card": clf.card}
