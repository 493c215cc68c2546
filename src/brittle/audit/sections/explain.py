"""Explanations: every registered explainer on a seeded handful of audited images, the Adebayo
sanity check, the Integrated Gradients completeness gap, and clean versus adversarial maps.

Maps stay raw in the library; the PNGs embedded here are normalized for display only (signed
gradient maps in blue-white-red, class activation maps as a heat overlay on the image).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import nn

from brittle import attacks, explain
from brittle.audit.context import AuditContext
from brittle.audit.images import png_base64
from brittle.explain.functional import normalize_for_display
from brittle.models.classifier import Classifier

#: Maps of these explainers need a convolution layer (``last_conv``).
CAM_METHODS = frozenset({"gradcam", "gradcam_plus_plus"})
#: Sanity-checked: one backward pass per map (the check recomputes the maps once per layer, so
#: Integrated Gradients and SmoothGrad would cost minutes on a ResNet).
SANITY_METHODS = frozenset({"saliency", *CAM_METHODS})
#: The two maps shown side by side for clean and adversarial images.
COMPARED = ("saliency", "gradcam")
OVERLAY_ALPHA = 0.7


@dataclass(frozen=True)
class Plan:
    """How much explaining each budget affords.

    Attributes:
        examples: Images whose maps are embedded.
        sanity_n: Images of the sanity check (the examples are the first of them).
        ig_steps: Integration points of Integrated Gradients.
        smoothgrad_samples: Noisy copies per image of SmoothGrad.
        adv_candidates: Correctly classified images attacked to find adversarial examples.
        adv_examples: Clean versus adversarial examples embedded.
    """

    examples: int
    sanity_n: int
    ig_steps: int
    smoothgrad_samples: int
    adv_candidates: int
    adv_examples: int = 4


PLANS = {"quick": Plan(8, 8, 32, 16, 32), "standard": Plan(8, 16, 50, 25, 64),
         "thorough": Plan(8, 32, 100, 50, 128)}


def plan_for(ctx: AuditContext) -> Plan:
    """The budget's plan (custom budgets get the ``quick`` one)."""
    return PLANS.get(ctx.budget.name, PLANS["quick"])


def has_conv(classifier: Classifier) -> bool:
    """Whether the model has the convolution layer class activation maps read."""
    return any(isinstance(m, nn.Conv2d) for m in classifier.model.modules())


def explainers(ctx: AuditContext, plan: Plan) -> list[explain.Explainer]:
    """One instance of every registered explainer the model supports, at the plan's settings."""
    settings: dict[str, dict[str, Any]] = {
        "integrated_gradients": {"steps": plan.ig_steps},
        "smoothgrad": {"samples": plan.smoothgrad_samples, "seed": ctx.seed}}
    conv = has_conv(ctx.classifier)
    return [explain.create(name, **settings.get(name, {})) for name in explain.names()
            if conv or name not in CAM_METHODS]


def run(ctx: AuditContext) -> dict[str, Any]:
    """Maps for the predicted class, sanity verdicts, completeness, clean vs adversarial."""
    plan = plan_for(ctx)
    methods = explainers(ctx, plan)
    idx = _sample(len(ctx.y), plan.sanity_n, ctx.seed)
    x = ctx.x[idx]
    probs = ctx.logits[idx].softmax(1)
    confidence, pred = probs.max(1)
    explained = {e.name: e(ctx.classifier, x, pred) for e in methods}
    examples = []
    for j in range(min(plan.examples, len(idx))):
        examples.append({"index": int(idx[j]), "label": int(ctx.y[idx[j]]), "pred": int(pred[j]),
                         "confidence": float(confidence[j]), "image_png": png_base64(x[j]),
                         "maps": {name: map_png(x[j], e.maps[j].cpu(), signed=e.cam is None)
                                  for name, e in explained.items()}})
    checked = [e for e in methods if e.name in SANITY_METHODS]
    sanity = explain.sanity_check(ctx.classifier, x, pred, methods=checked, seed=ctx.seed)
    return {"methods": [e.name for e in methods],
            "display": {name: "signed" if e.cam is None else "overlay"
                        for name, e in explained.items()},
            "settings": {e.name: e.settings() for e in methods},
            "examples": examples, "sanity": sanity.to_dict(),
            "completeness": _completeness(explained.get("integrated_gradients"), plan),
            "clean_vs_adversarial": _adversarial(ctx, plan)}


def _sample(n: int, size: int, seed: int) -> torch.Tensor:
    generator = torch.Generator().manual_seed(seed)
    return torch.randperm(n, generator=generator)[:size].sort().values


def _completeness(ig: explain.Explanation | None, plan: Plan) -> dict[str, Any] | None:
    """Integrated Gradients' relative completeness gap ``|sum(IG) - (F(x) - F(x'))| / |F(x) -
    F(x')|`` over the sanity images (undefined where ``F(x) = F(x')``)."""
    if ig is None:
        return None
    gaps = ig.info["completeness_gap"].cpu().double()
    finite = gaps[torch.isfinite(gaps)]
    return {"mean_gap": float(finite.mean()) if len(finite) else None,
            "max_gap": float(finite.max()) if len(finite) else None,
            "n": len(finite), "steps": plan.ig_steps, "method": ig.params.get("method"),
            "baseline": "black image (0)"}


def _adversarial(ctx: AuditContext, plan: Plan) -> dict[str, Any]:
    """PGD at ``ctx.eps`` on a seeded subset of correctly classified images; the first
    ``adv_examples`` it breaks are explained clean (true class) and attacked (new class)."""
    pred = ctx.logits.argmax(1)
    correct = torch.nonzero(pred == ctx.y).flatten()
    order = torch.randperm(len(correct), generator=torch.Generator().manual_seed(ctx.seed + 1))
    tried = correct[order[:plan.adv_candidates]].sort().values
    attack = {"name": "pgd", "norm": "linf", "eps": ctx.eps, "steps": ctx.budget.pgd_steps,
              "tried": len(tried), "broken": 0}
    if not len(tried):
        return {"attack": attack, "examples": []}
    device = ctx.classifier.device
    result = attacks.create("pgd", eps=ctx.eps, steps=ctx.budget.pgd_steps, seed=ctx.seed)(
        ctx.classifier, ctx.x[tried].to(device), ctx.y[tried].to(device))
    broken = torch.nonzero(result.success.cpu()).flatten()
    attack["broken"] = len(broken)
    chosen = broken[:plan.adv_examples]
    if not len(chosen):
        return {"attack": attack, "examples": []}
    methods = [m for m in COMPARED if has_conv(ctx.classifier) or m not in CAM_METHODS]
    x_adv = result.x_adv[chosen].cpu()
    cmp = explain.compare_clean_adversarial(ctx.classifier, ctx.x[tried[chosen]],
                                            ctx.y[tried[chosen]], x_adv, methods=methods)
    adv_probs = result.logits[chosen].cpu().softmax(1)
    rows = []
    for j, i in enumerate(tried[chosen].tolist()):
        row: dict[str, Any] = {
            "index": i, "label": int(ctx.y[i]), "adv_pred": int(cmp.adv_class[j]),
            "adv_conf": float(adv_probs[j, cmp.adv_class[j]]),
            "clean_png": png_base64(cmp.x[j]), "adversarial_png": png_base64(cmp.x_adv[j])}
        for m in methods:
            signed = cmp.clean[m].cam is None
            row[f"clean_{m}_png"] = map_png(cmp.x[j], cmp.clean[m].maps[j].cpu(), signed=signed)
            row[f"adversarial_{m}_png"] = map_png(cmp.x_adv[j], cmp.adversarial[m].maps[j].cpu(),
                                                  signed=signed)
        row["similarity"] = {m: {k: _finite(v[j]) for k, v in s.items()}
                             for m, s in cmp.similarity.items()}
        rows.append(row)
    return {"attack": attack, "methods": methods, "examples": rows}


def _finite(value: torch.Tensor) -> float | None:
    number = float(value)
    return number if math.isfinite(number) else None


# --- display PNGs (normalized for display only) ------------------------------------------------

def _colormap(name: str, values: np.ndarray) -> np.ndarray:
    """``values`` in [0, 1] (or [-1, 1] mapped by the caller) through a matplotlib colormap,
    ``(H, W) -> (H, W, 3)``."""
    from matplotlib import colormaps  # matplotlib is only needed to draw

    return np.asarray(colormaps[name](values))[..., :3]


def _rgb_png(rgb: np.ndarray) -> str:
    return png_base64(torch.from_numpy(np.ascontiguousarray(rgb.transpose(2, 0, 1))).float())


def signed_png(attribution: torch.Tensor) -> str:
    """A signed map ``(C, H, W)`` summed over channels: red raises the explained class's score,
    blue lowers it, white is neutral (scaled by the 99th percentile of ``|map|``)."""
    scaled = normalize_for_display(attribution.detach().cpu().float().sum(0)[None],
                                   signed=True)[0].numpy()
    return _rgb_png(_colormap("bwr", (scaled + 1) / 2))


def heat_png(values: torch.Tensor, vmax: float) -> str:
    """A non-negative map ``(H, W)`` as a heat map, ``vmax`` and above at full heat."""
    scaled = (values.detach().cpu().double() / max(vmax, 1e-30)).clamp(0, 1).numpy()
    return _rgb_png(_colormap("inferno", scaled))


def overlay_png(image: torch.Tensor, attribution: torch.Tensor) -> str:
    """``|map|`` of ``(C, H, W)`` as a heat overlay on the image ``(C, H, W)`` shown grey; the
    overlay is more opaque where the map is strong."""
    grey = image.detach().cpu().float().clamp(0, 1).mean(0).numpy()[..., None]
    heat = normalize_for_display(attribution.detach().cpu().float().abs().sum(0)[None])[0]
    value = heat.numpy()[..., None]
    alpha = OVERLAY_ALPHA * value
    return _rgb_png((1 - alpha) * grey + alpha * _colormap("jet", value[..., 0]))


def map_png(image: torch.Tensor, attribution: torch.Tensor, *, signed: bool) -> str:
    """:func:`signed_png` for gradient maps, :func:`overlay_png` for activation maps."""
    return signed_png(attribution) if signed else overlay_png(image, attribution)
