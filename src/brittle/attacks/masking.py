"""Gradient-masking checks that fail loudly.

A model that masks its gradients looks robust to gradient attacks without being robust. These
checks follow the red flags listed by N. Carlini, A. Athalye, N. Papernot, W. Brendel,
J. Rauber, D. Tsipras, I. Goodfellow, A. Madry and A. Kurakin, "On Evaluating Adversarial
Robustness" (arXiv:1902.06705, 2019), Sec. 5 and the checklist, and the flags raised by
AutoAttack (F. Croce and M. Hein, "Reliable evaluation of adversarial robustness with an
ensemble of diverse parameter-free attacks", ICML 2020). Each check returns a
:class:`Finding`; nothing is logged as a warning, so results carry the evidence.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import torch

from brittle._utils.stats import Rate
from brittle.attacks.base import AttackResult, frozen
from brittle.attacks.evaluate import RobustnessCurve
from brittle.attacks.functional import attack_loss
from brittle.attacks.pgd import PGD
from brittle.errors import BrittleError
from brittle.models.classifier import Classifier

Severity = Literal["ok", "warning", "fail"]


@dataclass(frozen=True)
class Finding:
    """The outcome of one check.

    Attributes:
        check: Name of the check (``gradients``, ``determinism``, ...).
        severity: ``ok``, ``warning`` (worth a look) or ``fail`` (the evaluation is not
            trustworthy until this is fixed).
        message: One line for a person.
        evidence: The numbers behind it (JSON-serializable).
    """

    check: str
    severity: Severity
    message: str
    evidence: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"check": self.check, "severity": self.severity, "message": self.message,
                "evidence": dict(self.evidence)}


def check_gradient_masking(classifier: Classifier, x: torch.Tensor, y: torch.Tensor, *,
                           unbounded_steps: int = 50, seed: int = 0,
                           blackbox: AttackResult | None = None,
                           whitebox: AttackResult | Sequence[AttackResult] | None = None,
                           eps_curve: RobustnessCurve | None = None,
                           steps_curve: Mapping[int, Rate | float] | None = None,
                           ) -> list[Finding]:
    """Run the self-contained masking checks, plus those whose inputs are given.

    Self-contained: train mode left on, outputs that are probabilities or log-probabilities,
    non-determinism, zero/NaN/inf input gradients, and an unbounded Linf attack (eps = full
    range) that fails to drive accuracy to about zero. Given results: the black-box attack
    beating the white-box ones, and robust accuracy rising with eps or with more steps.

    Args:
        classifier: The model to audit; its train/eval modes are restored afterwards.
        x: A batch of images ``(N, C, H, W)`` (a few hundred is plenty).
        y: Labels ``(N,)``.
        unbounded_steps: PGD steps of the unbounded attack (0 skips that check).
        seed: Seed of the unbounded attack.
        blackbox: Result of a black-box attack (e.g. Square) on the same samples and budget.
        whitebox: Result(s) of white-box attacks on the same samples and budget.
        eps_curve: A robustness curve to check for accuracy rising with eps.
        steps_curve: Robust accuracy by number of attack steps at one budget.

    Returns:
        A list of :class:`Finding`, one per check run.

    Example:
        >>> import torch
        >>> from torch import nn
        >>> clf = Classifier(nn.Sequential(nn.Flatten(), nn.Linear(4, 3)), input_shape=(1, 2, 2))
        >>> x, y = torch.rand(16, 1, 2, 2), torch.zeros(16, dtype=torch.long)
        >>> [f.check for f in check_gradient_masking(clf, x, y, unbounded_steps=5)]
        ['train_mode', 'output_kind', 'determinism', 'gradients', 'unbounded_attack']
    """
    x, y = x.to(classifier.device), y.to(classifier.device)
    findings = [check_train_mode(classifier), check_outputs(classifier, x),
                check_determinism(classifier, x), check_gradients(classifier, x, y)]
    if unbounded_steps > 0:
        findings.append(check_unbounded(classifier, x, y, steps=unbounded_steps, seed=seed))
    if blackbox is not None and whitebox is not None:
        findings.append(check_blackbox_vs_whitebox(blackbox, whitebox))
    if eps_curve is not None:
        findings.append(check_eps_monotone(eps_curve))
    if steps_curve is not None:
        findings.append(check_steps_monotone(steps_curve))
    return findings


def check_train_mode(classifier: Classifier) -> Finding:
    """Flag modules left in train mode: dropout and batch norm then make outputs random or
    batch-dependent, which masks gradients for anyone who attacks the model as it is.
    Attacks in brittle switch to eval mode, so this is a warning about the user's own loop."""
    training = [name or "<root>" for name, m in classifier.model.named_modules() if m.training]
    if not training:
        return Finding("train_mode", "ok", "the model is in eval mode")
    return Finding("train_mode", "warning",
                   f"{len(training)} module(s) are in train mode; brittle attacks run in eval "
                   "mode, but evaluate your own metrics in eval mode too",
                   {"modules": training[:20], "count": len(training)})


@torch.no_grad()
def check_outputs(classifier: Classifier, x: torch.Tensor, *, tol: float = 1e-3) -> Finding:
    """Flag outputs that are probabilities (softmax saturates, so cross-entropy gradients
    vanish) or log-probabilities (harmless for cross-entropy, but a sign of a softmax layer)."""
    with classifier.evaluating():
        out = classifier(x).double()
    prob_rows = ((out >= -tol).all(1) & ((out.sum(1) - 1).abs() <= tol)).float().mean().item()
    logprob_rows = ((out <= tol).all(1) & (out.logsumexp(1).abs() <= tol)).float().mean().item()
    evidence = {"probability_rows": prob_rows, "log_probability_rows": logprob_rows}
    if prob_rows >= 0.9:
        return Finding("output_kind", "fail",
                       f"{100 * prob_rows:.0f}% of output rows are probabilities; attacks need "
                       "logits (remove the final softmax)", evidence)
    if logprob_rows >= 0.9:
        return Finding("output_kind", "warning",
                       f"{100 * logprob_rows:.0f}% of output rows are log-probabilities; "
                       "brittle expects logits (margin and DLR losses stay valid)", evidence)
    return Finding("output_kind", "ok", "outputs look like logits", evidence)


@torch.no_grad()
def check_determinism(classifier: Classifier, x: torch.Tensor, *, repeats: int = 3,
                      tol: float = 1e-4) -> Finding:
    """Flag randomized models: the same input giving different logits in eval mode. Attacks on
    them need expectation over transformation (Athalye et al. 2018)."""
    with classifier.evaluating():
        outs = [classifier(x) for _ in range(repeats)]
    scale = outs[0].abs().amax().clamp_min(1.0)
    diff = max(float((o - outs[0]).abs().amax() / scale) for o in outs[1:])
    evidence = {"max_relative_difference": diff, "repeats": repeats}
    if diff > tol:
        return Finding("determinism", "fail",
                       f"the same input gives different logits (relative difference {diff:.2g});"
                       " attack the expectation over the randomness (EOT)", evidence)
    return Finding("determinism", "ok", "repeated forward passes agree", evidence)


def check_gradients(classifier: Classifier, x: torch.Tensor, y: torch.Tensor, *,
                    zero_fail: float = 0.5, zero_warn: float = 0.05) -> Finding:
    """Flag zero, NaN or inf input gradients of the margin loss (shattered or obfuscated
    gradients, Athalye et al. 2018). The margin loss is used because, unlike cross-entropy, it
    does not saturate on confident samples, so a zero gradient means masking."""
    grad = _input_gradient(classifier, x, y)
    flat = grad.flatten(1)
    nonfinite = (~torch.isfinite(flat)).any(1)
    zero = (flat.abs().amax(1) == 0) & ~nonfinite
    n = len(x)
    evidence = {"n": n, "zero_share": float(zero.float().mean()),
                "nonfinite_share": float(nonfinite.float().mean())}
    if nonfinite.any():
        return Finding("gradients", "fail", f"{int(nonfinite.sum())}/{n} samples have NaN or "
                       "inf input gradients", evidence)
    share = evidence["zero_share"]
    if share >= zero_fail:
        return Finding("gradients", "fail", f"{100 * share:.0f}% of samples have exactly zero "
                       "input gradients (non-differentiable or saturated layers); use BPDA or a "
                       "black-box attack", evidence)
    if share >= zero_warn:
        return Finding("gradients", "warning", f"{100 * share:.0f}% of samples have exactly "
                       "zero input gradients", evidence)
    return Finding("gradients", "ok", "input gradients are finite and non-zero", evidence)


def _input_gradient(classifier: Classifier, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Gradient of the per-sample margin loss w.r.t. the input only (weights frozen)."""
    with classifier.evaluating(), frozen(classifier), torch.enable_grad():
        xg = x.detach().clone().requires_grad_(True)
        loss = attack_loss(classifier(xg), y, None, "margin")
        (grad,) = torch.autograd.grad(loss.sum(), xg)
    return grad


def check_unbounded(classifier: Classifier, x: torch.Tensor, y: torch.Tensor, *,
                    steps: int = 50, seed: int = 0, max_accuracy: float = 0.01) -> Finding:
    """An Linf attack with eps = the full input range can reach any image; if accuracy does
    not drop to about zero, the attack is failing, not the model resisting (Carlini et al.
    2019, Sec. 5.2)."""
    low, high = classifier.bounds
    attack = PGD(eps=high - low, steps=steps, loss="margin", seed=seed)
    rate = attack(classifier, x, y).robust_accuracy()
    evidence = {"robust_accuracy": rate.to_dict(), "steps": steps, "eps": high - low}
    if rate.value > max_accuracy:
        return Finding("unbounded_attack", "fail",
                       f"an unbounded attack leaves {100 * rate.value:.1f}% accuracy (expected "
                       f"~0): gradients do not lead to adversarial inputs", evidence)
    return Finding("unbounded_attack", "ok", "an unbounded attack drives accuracy to ~0",
                   evidence)


def check_blackbox_vs_whitebox(blackbox: AttackResult,
                               whitebox: AttackResult | Sequence[AttackResult], *,
                               fail_share: float = 0.01) -> Finding:
    """Flag a black-box attack (e.g. Square) that breaks samples every white-box attack missed:
    with honest gradients, white-box attacks should be at least as strong (Carlini et al.
    2019, Sec. 5.5; a flag AutoAttack's authors use). It fails when the share of such samples
    among the clean-correct ones is at least ``fail_share`` with 95% confidence (the Wilson
    interval lies above it), so a single sample in a hundred is a warning, not a verdict."""
    boxes = [whitebox] if isinstance(whitebox, AttackResult) else list(whitebox)
    for wb in boxes:
        if wb.labels.shape != blackbox.labels.shape or not torch.equal(wb.labels.cpu(),
                                                                        blackbox.labels.cpu()):
            raise BrittleError("black-box and white-box results must cover the same samples")
    correct = blackbox.clean_correct.cpu()
    wb_broken = torch.zeros_like(correct)
    for wb in boxes:
        wb_broken |= ~wb.adv_correct.cpu()
    only_bb = correct & ~blackbox.adv_correct.cpu() & ~wb_broken
    count = int(only_bb.sum())
    share = Rate.of(count, int(correct.sum()))
    value, low, high = (share.value, share.low, share.high) if share.n else (0.0, 0.0, 0.0)
    evidence = {"blackbox_only": count, "n": share.n, "share": value, "share_low": low,
                "share_high": high, "blackbox": blackbox.attack,
                "whitebox": [wb.attack for wb in boxes],
                "blackbox_robust_accuracy": blackbox.robust_accuracy().value,
                "whitebox_robust_accuracy": [wb.robust_accuracy().value for wb in boxes]}
    samples = f"{count} sample{'s' if count != 1 else ''}"
    if count and low >= fail_share:
        return Finding("blackbox_vs_whitebox", "fail",
                       f"the black-box attack broke {samples} ({share}) that every white-box "
                       "attack missed: gradients are likely masked", evidence)
    if count:
        return Finding("blackbox_vs_whitebox", "warning",
                       f"the black-box attack broke {samples} ({share}) that the white-box "
                       "attacks missed", evidence)
    return Finding("blackbox_vs_whitebox", "ok", "white-box attacks are at least as strong as "
                   "the black-box attack", evidence)


def check_eps_monotone(curve: RobustnessCurve | Mapping[float, Rate | float], *,
                       tol: float = 0.005) -> Finding:
    """Flag robust accuracy that rises with eps: a larger budget contains every perturbation of
    a smaller one, so a rise means the attack is failing (Carlini et al. 2019, Sec. 5.3)."""
    points = (list(zip(curve.eps, curve.values(), strict=True))
              if isinstance(curve, RobustnessCurve)
              else sorted((float(k), _value(v)) for k, v in curve.items()))
    return _monotone("eps_monotone", "eps", points, tol)


def check_steps_monotone(robust_by_steps: Mapping[int, Rate | float], *,
                         tol: float = 0.005) -> Finding:
    """Flag robust accuracy that rises with more attack steps: a stronger attack of the same
    kind should never do worse (a sign of a noisy or misleading gradient signal)."""
    points = sorted((float(k), _value(v)) for k, v in robust_by_steps.items())
    return _monotone("steps_monotone", "steps", points, tol)


def _monotone(check: str, what: str, points: list[tuple[float, float]], tol: float) -> Finding:
    rises = [(a, b, vb - va) for (a, va), (b, vb) in itertools.pairwise(points) if vb > va]
    worst = max((r[2] for r in rises), default=0.0)
    evidence = {"points": [[p, v] for p, v in points],
                "rises": [[a, b, d] for a, b, d in rises], "largest_rise": worst}
    if worst > tol:
        a, b, d = max(rises, key=lambda r: r[2])
        return Finding(check, "fail", f"robust accuracy rises by {100 * d:.1f} pp from {what} "
                       f"{a:g} to {b:g}; the attack is not converging", evidence)
    if rises:
        return Finding(check, "warning", f"robust accuracy rises slightly with {what} "
                       f"(at most {100 * worst:.2f} pp)", evidence)
    return Finding(check, "ok", f"robust accuracy does not rise with {what}", evidence)


def _value(v: Rate | float) -> float:
    return v.value if isinstance(v, Rate) else float(v)
