"""Adversarial robustness: curves versus eps (FGSM, PGD, AutoAttack), per-class attack success
for untargeted and least-likely attacks, gradient-masking findings and an example grid."""

from __future__ import annotations

import math
from typing import Any

import torch
from scipy.stats import spearmanr

from brittle import attacks
from brittle._utils.stats import Rate
from brittle.attacks.base import AttackResult
from brittle.attacks.evaluate import per_class_report, robustness_curve, run_batched
from brittle.attacks.masking import check_gradient_masking
from brittle.audit.context import AuditContext
from brittle.audit.images import png_base64

MASKING_SAMPLES = 100
EXAMPLES = 8
BATCH = 256


def run(ctx: AuditContext) -> dict[str, Any]:
    """Attack a seeded subset of the audited images at the budget's strength."""
    idx = ctx.attack_indices()
    x, y = ctx.x[idx].to(ctx.classifier.device), ctx.y[idx].to(ctx.classifier.device)
    steps = ctx.budget.pgd_steps
    pgd = attacks.create("pgd", eps=ctx.eps, steps=steps, restarts=ctx.budget.pgd_restarts,
                         seed=ctx.seed)
    untargeted = _attack(ctx, pgd, x, y, None)
    least_likely = _attack(ctx, pgd, x, y, "least-likely")
    budgets = [ctx.eps * i / ctx.budget.curve_budgets
               for i in range(ctx.budget.curve_budgets + 1)]
    fgsm_curve, _ = _curve(ctx, "fgsm", x, y, budgets, {})
    pgd_curve, breaking_eps = _curve(ctx, "pgd", x, y, budgets, {"steps": steps})
    curves = [fgsm_curve, pgd_curve]
    autoattack = _autoattack(ctx, x, y)
    if autoattack is not None:
        curves.append({"attack": "autoattack", "norm": "linf", "eps": [0.0, ctx.eps],
                       "robust_accuracy": [_clean(untargeted), autoattack.robust_accuracy()
                                           .to_dict()],
                       "version": ctx.budget.autoattack,
                       "broken_by": _broken_by(autoattack)})
    report = per_class_report(untargeted, ctx.class_names)
    return {"attack": {"name": "pgd", "norm": "linf", "eps": ctx.eps, "steps": steps,
                       "restarts": ctx.budget.pgd_restarts, "n": len(y)},
            "curves": curves,
            "per_class": {"untargeted": _classes(report),
                          "least-likely": _classes(per_class_report(least_likely,
                                                                    ctx.class_names))},
            "confusion": report.confusion,
            "spearman": _spearman(ctx, y, breaking_eps, pgd_curve),
            "masking": _masking(ctx, x, y, untargeted, budgets),
            "examples": _examples(x, untargeted)}


def _attack(ctx: AuditContext, attack: attacks.Attack, x: torch.Tensor, y: torch.Tensor,
            target: str | None) -> AttackResult:
    return run_batched(attack, ctx.classifier, (x, y), batch_size=BATCH, target=target,
                       progress=ctx.show_progress)


def _clean(result: AttackResult) -> dict[str, Any]:
    return Rate.of(int(result.clean_correct.sum()), len(result.labels)).to_dict()


def _curve(ctx: AuditContext, name: str, x: torch.Tensor, y: torch.Tensor,
           budgets: list[float], kwargs: dict[str, Any]) -> tuple[dict[str, Any], torch.Tensor]:
    """The curve for the result, and each sample's smallest breaking budget ``(N,)``."""
    curve = robustness_curve(name, ctx.classifier, x, y, budgets, batch_size=BATCH,
                             progress=ctx.show_progress, seed=ctx.seed, **kwargs)
    return ({"attack": name, "norm": "linf", "eps": list(curve.eps),
             "robust_accuracy": [r.to_dict() for r in curve.robust_accuracy],
             "steps": kwargs.get("steps", 1), "seconds": curve.seconds},
            curve.breaking_eps)


def _autoattack(ctx: AuditContext, x: torch.Tensor, y: torch.Tensor) -> AttackResult | None:
    if ctx.budget.autoattack == "none":
        return None
    attack = attacks.create("autoattack", eps=ctx.eps, version=ctx.budget.autoattack,
                            steps=ctx.budget.autoattack_steps, seed=ctx.seed)
    return _attack(ctx, attack, x, y, None)


def _broken_by(result: AttackResult) -> dict[str, int]:
    codes = result.info["broken_by"]
    return {str(name): int((codes == i).sum()) for i, name in enumerate(result.params["attacks"])}


def _classes(report: Any) -> list[dict[str, Any]]:
    return [{"index": i, "name": c.name, "clean_accuracy": c.clean_accuracy.to_dict(),
             "robust_accuracy": c.robust_accuracy.to_dict(),
             "attack_success": c.success_rate.to_dict()}
            for i, c in enumerate(report.classes) if c.n > 0]


def _spearman(ctx: AuditContext, y: torch.Tensor, breaking_eps: torch.Tensor,
              curve: dict[str, Any]) -> dict[str, Any]:
    """Do the classes the model misses most also fall to the attack first?

    Per-class attack success is read off the PGD curve's per-sample breaking budgets at the
    budget where overall robust accuracy is nearest half the clean accuracy: at the main budget
    an attack often breaks every class, and a constant success rate correlates with nothing.
    """
    accuracies = [r["value"] for r in curve["robust_accuracy"]]
    target = accuracies[0] / 2
    at = min(range(1, len(accuracies)), key=lambda i: abs(accuracies[i] - target))
    eps = curve["eps"][at]
    pred, labels, broken = ctx.logits.argmax(1), y.cpu(), breaking_eps.cpu()
    miss, success, names = [], [], []
    for c in range(ctx.classifier.num_classes):
        attacked = (labels == c) & (broken > 0)  # clean-correct samples of class c
        if (ctx.y == c).any() and attacked.any():
            names.append(ctx.class_names[c])
            miss.append(float((pred[ctx.y == c] != c).float().mean()))
            success.append(float((broken[attacked] <= eps + 1e-12).float().mean()))
    rho: float | None = None
    p_value: float | None = None
    if len(miss) >= 3 and len(set(miss)) > 1 and len(set(success)) > 1:
        stat = spearmanr(miss, success)
        rho, p_value = float(stat.statistic), float(stat.pvalue)
        if math.isnan(rho):
            rho = p_value = None
    return {"rho": rho, "p_value": p_value, "n_classes": len(miss), "eps": eps,
            "x": "miss rate", "y": f"PGD attack success at eps {eps:.3g}",
            "classes": names, "success": success, "miss": miss}


def _masking(ctx: AuditContext, x: torch.Tensor, y: torch.Tensor, untargeted: AttackResult,
             budgets: list[float]) -> list[dict[str, Any]]:
    """Carlini et al. 2019 red flags, with Square (black box) against PGD (white box)."""
    xs, ys = x[:MASKING_SAMPLES], y[:MASKING_SAMPLES]
    queries = {"quick": 300, "standard": 1000}.get(ctx.budget.name, 5000)
    blackbox = attacks.create("square", eps=ctx.eps, n_queries=queries, seed=ctx.seed)(
        ctx.classifier, xs, ys)
    whitebox = [attacks.create(name, eps=ctx.eps, steps=steps, seed=ctx.seed)(
        ctx.classifier, xs, ys) for name, steps in (("pgd", ctx.budget.pgd_steps),
                                                     ("apgd-ce", ctx.budget.autoattack_steps))]
    curve = robustness_curve("pgd", ctx.classifier, xs, ys, budgets,
                             steps=ctx.budget.pgd_steps, seed=ctx.seed)
    findings = check_gradient_masking(ctx.classifier, xs, ys, seed=ctx.seed, blackbox=blackbox,
                                      whitebox=whitebox, eps_curve=curve)
    return [{**f.to_dict(), "flagged": f.severity != "ok"} for f in findings]


def _examples(x: torch.Tensor, result: AttackResult) -> list[dict[str, Any]]:
    chosen = torch.nonzero(result.success & result.clean_correct).flatten()[:EXAMPLES]
    clean_p, adv_p = result.clean_logits.softmax(1), result.logits.softmax(1)
    out = []
    for i in chosen.tolist():
        delta = result.x_adv[i] - x[i]
        out.append({"label": int(result.labels[i]), "clean_pred": int(clean_p[i].argmax()),
                    "clean_conf": float(clean_p[i].max()), "adv_pred": int(adv_p[i].argmax()),
                    "adv_conf": float(adv_p[i].max()), "original_png": png_base64(x[i]),
                    "perturbation_png": png_base64(0.5 + 10 * delta),
                    "adversarial_png": png_base64(result.x_adv[i])})
    return out
