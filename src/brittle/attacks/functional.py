"""Pure tensor functions shared by the attacks: norms, projections, losses, success tests."""

from __future__ import annotations

from typing import Literal, overload

import torch
import torch.nn.functional as F

Norm = Literal["linf", "l2", "l1"]
NORMS: tuple[Norm, ...] = ("linf", "l2", "l1")


def lp_norm(delta: torch.Tensor, norm: Norm) -> torch.Tensor:
    """Per-sample norm of ``delta`` ``(N, ...)``, shape ``(N,)``."""
    flat = delta.flatten(1)
    if norm == "linf":
        return flat.abs().amax(dim=1)
    if norm == "l2":
        return flat.norm(p=2, dim=1)
    return flat.abs().sum(dim=1)


@overload
def per_sample(value: torch.Tensor, x: torch.Tensor) -> torch.Tensor: ...


@overload
def per_sample(value: float | torch.Tensor, x: torch.Tensor) -> float | torch.Tensor: ...


def per_sample(value: float | torch.Tensor, x: torch.Tensor) -> float | torch.Tensor:
    """A per-sample ``(N,)`` tensor viewed to broadcast over a batch ``x`` ``(N, ...)``; a scalar
    is returned as it is."""
    return value.view(-1, *([1] * (x.ndim - 1))) if isinstance(value, torch.Tensor) else value


def project(x_adv: torch.Tensor, x: torch.Tensor, eps: float | torch.Tensor, norm: Norm,
            bounds: tuple[float, float]) -> torch.Tensor:
    """Project ``x_adv`` onto the ``eps`` ball around ``x`` and then into ``bounds``.

    ``eps`` may be a scalar or a per-sample tensor ``(N,)``. For L1 the ball projection is exact
    (Duchi et al. 2008) before clipping to the bounds; the final result is always inside both sets
    for Linf and L2 (clipping can only shrink those norms), and inside both for L1 as well since
    clipping moves each coordinate towards ``x``.
    """
    delta = x_adv - x
    eps_t = torch.as_tensor(eps, dtype=x.dtype, device=x.device)
    if eps_t.ndim == 1:
        eps_t = per_sample(eps_t, x)
    if norm == "linf":
        delta = torch.maximum(torch.minimum(delta, eps_t), -eps_t)
    elif norm == "l2":
        n = per_sample(lp_norm(delta, "l2"), x)
        delta = delta * torch.clamp(eps_t / n.clamp_min(1e-12), max=1.0)
    else:
        delta = project_l1_ball(delta, eps_t.flatten() if eps_t.ndim else eps_t.expand(len(x)))
    return torch.clamp(x + delta, bounds[0], bounds[1])


def inside(x_adv: torch.Tensor, x: torch.Tensor, eps: float, norm: Norm,
           bounds: tuple[float, float], *, rtol: float = 1e-6) -> bool:
    """Whether every sample of ``x_adv`` lies in the bounds and within ``eps`` of ``x`` (up to
    float rounding, ``rtol`` relative)."""
    low, high = bounds
    in_bounds = bool((x_adv >= low).all()) and bool((x_adv <= high).all())
    return in_bounds and bool((lp_norm(x_adv - x, norm) <= eps * (1 + rtol) + rtol).all())


def project_l1_ball(delta: torch.Tensor, eps: torch.Tensor) -> torch.Tensor:
    """Euclidean projection of each sample of ``delta`` onto the L1 ball of radius ``eps`` ``(N,)``
    (Duchi et al. 2008, "Efficient projections onto the l1-ball", sort-based algorithm)."""
    flat = delta.flatten(1)
    abs_flat = flat.abs()
    inside = abs_flat.sum(dim=1) <= eps
    if bool(inside.all()):
        return delta
    sorted_abs = abs_flat.sort(dim=1, descending=True).values
    cumsum = sorted_abs.cumsum(dim=1)
    ranks = torch.arange(1, flat.shape[1] + 1, device=delta.device, dtype=delta.dtype)
    cond = sorted_abs - (cumsum - eps[:, None]) / ranks > 0
    # the last index where cond holds
    rho = cond.to(torch.int64).cumsum(dim=1).argmax(dim=1, keepdim=True)
    theta = ((cumsum.gather(1, rho) - eps[:, None]) / (rho + 1).to(delta.dtype)).clamp_min(0)
    projected = torch.sign(flat) * (abs_flat - theta).clamp_min(0)
    return torch.where(inside[:, None], flat, projected).view_as(delta)


def is_adversarial(logits: torch.Tensor, labels: torch.Tensor,
                   target: torch.Tensor | None) -> torch.Tensor:
    """Untargeted: the prediction differs from ``labels``; targeted: it equals ``target``."""
    pred = logits.argmax(dim=1)
    return pred != labels if target is None else pred == target


def attack_loss(logits: torch.Tensor, labels: torch.Tensor, target: torch.Tensor | None,
                kind: Literal["ce", "dlr", "margin"] = "ce") -> torch.Tensor:
    """Per-sample loss ``(N,)`` that the attacker *maximizes*.

    ``ce``: cross-entropy of the true class, or minus that of the target class.
    ``margin``: C&W margin, best other logit minus true logit (or target minus best other).
    ``dlr``: difference of logits ratio (Croce & Hein 2020), targeted variant when ``target``.
    """
    if kind == "ce":
        if target is None:
            return F.cross_entropy(logits, labels, reduction="none")
        return -F.cross_entropy(logits, target, reduction="none")
    if kind == "margin":
        ref = labels if target is None else target
        ref_logit = logits.gather(1, ref[:, None]).squeeze(1)
        other = logits.scatter(1, ref[:, None], float("-inf")).amax(dim=1)
        return other - ref_logit if target is None else ref_logit - other
    return dlr_loss(logits, labels, target)


def dlr_loss(logits: torch.Tensor, labels: torch.Tensor,
             target: torch.Tensor | None = None) -> torch.Tensor:
    """Difference-of-logits-ratio loss of Croce & Hein (2020), to maximize; shift and scale
    invariant so it resists logit rescaling (a common form of gradient masking)."""
    srt = logits.sort(dim=1).values
    true_logit = logits.gather(1, labels[:, None]).squeeze(1)
    if target is None:
        best_is_true = (srt[:, -1] == true_logit)
        best_other = torch.where(best_is_true, srt[:, -2], srt[:, -1])
        return -(true_logit - best_other) / (srt[:, -1] - srt[:, -3] + 1e-12)
    target_logit = logits.gather(1, target[:, None]).squeeze(1)
    return -(true_logit - target_logit) / (srt[:, -1] - 0.5 * (srt[:, -3] + srt[:, -4]) + 1e-12)
