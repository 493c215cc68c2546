"""Diagnosis: root-cause statistics for the most confused class pairs, and label suspects in the
audited set (confident learning with the audited model's own probabilities).

A suspect is an image whose given label the model argues against confidently: worth a human
look, not a proven labelling error.
"""

from __future__ import annotations

from typing import Any

import torch

from brittle.audit.context import AuditContext
from brittle.audit.images import png_base64
from brittle.audit.sections.explain import CAM_METHODS, has_conv, heat_png
from brittle.diagnose import find_suspects
from brittle.explain import confused_pairs, diagnose_pair
from brittle.explain.rootcause import PairDiagnosis

TOP_PAIRS = 3
#: A pair needs at least this many errors to be compared with the correct images.
MIN_ERRORS = 2
TOP_SUSPECTS = 12
TOP_AMBIGUOUS = 8
METHODS = ("saliency", "gradcam")
#: Most images per group (errors, correct) explained for one pair, per budget.
MAX_PER_GROUP = {"quick": 64, "standard": 256, "thorough": 512}
SOURCE = ("softmax of the audited model on the audited images (out-of-sample when the model "
          "never trained on them)")


def run(ctx: AuditContext) -> dict[str, Any]:
    """Root causes of the top confusions, then the label suspects and ambiguous images."""
    pred = ctx.logits.argmax(1).cpu()
    return {"pairs": _pairs(ctx, pred), "min_errors": MIN_ERRORS,
            "suspects": _suspects(ctx)}


def _pairs(ctx: AuditContext, pred: torch.Tensor) -> list[dict[str, Any]]:
    methods = [m for m in METHODS if has_conv(ctx.classifier) or m not in CAM_METHODS]
    limit = MAX_PER_GROUP.get(ctx.budget.name, MAX_PER_GROUP["quick"])
    out = []
    for true, predicted, _count in confused_pairs(ctx.y.cpu(), pred, top=TOP_PAIRS,
                                                  min_count=MIN_ERRORS):
        diagnosis = diagnose_pair(ctx.classifier, ctx.x, ctx.y, true_class=true,
                                  predicted_class=predicted, predictions=pred, methods=methods,
                                  max_per_group=limit, seed=ctx.seed)
        out.append({**diagnosis.to_dict(), **_pictures(diagnosis)})
    return out


def _pictures(diagnosis: PairDiagnosis) -> dict[str, Any]:
    """Mean images of both groups, and each method's mean attribution density of both groups
    on one shared colour scale (so the two can be compared by eye)."""
    maps = {}
    for method, groups in diagnosis.mean_maps.items():
        vmax = float(torch.quantile(torch.cat([g.flatten() for g in groups.values()]).double(),
                                    0.99))
        maps[method] = {f"{group}_png": heat_png(density, vmax)
                        for group, density in groups.items()}
    return {"mean_images": {f"{g}_png": png_base64(image)
                            for g, image in diagnosis.mean_images.items()},
            "mean_maps": maps}


def _suspects(ctx: AuditContext) -> dict[str, Any]:
    probs = ctx.logits.cpu().double().softmax(1)
    report = find_suspects(probs, ctx.y.cpu(), class_names=ctx.class_names)
    summary = report.to_dict(top=TOP_SUSPECTS)
    top = [{**row, "image_png": png_base64(ctx.x[row["index"]])} for row in summary["suspects"]]
    ambiguous = summary["ambiguous"]
    return {"method": report.method, "rank_by": report.rank_by, "n": report.n,
            "count": len(report), "source": SOURCE,
            "estimated_noise_rate": summary["estimated_noise_rate"],
            "noise_rates": summary["noise_rates"], "top": top,
            "ambiguous": {"by": ambiguous["by"], "threshold": ambiguous["threshold"],
                          "count": ambiguous["count"],
                          "top": [{**row, "image_png": png_base64(ctx.x[row["index"]])}
                                  for row in ambiguous["examples"][:TOP_AMBIGUOUS]]}}
