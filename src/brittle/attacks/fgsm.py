"""Single-step gradient attacks: FGSM and R+FGSM.

- FGSM: I. Goodfellow, J. Shlens and C. Szegedy, "Explaining and Harnessing Adversarial
  Examples", ICLR 2015.
- R+FGSM: F. Tramèr, A. Kurakin, N. Papernot, I. Goodfellow, D. Boneh and P. McDaniel,
  "Ensemble Adversarial Training: Attacks and Defenses", ICLR 2018.
"""

from __future__ import annotations

from typing import Literal

import torch

from brittle.attacks.base import AttackContext, LossKind
from brittle.attacks.functional import Norm, per_sample
from brittle.attacks.iterative import IterativeAttack
from brittle.attacks.registry import ATTACKS
from brittle.errors import BrittleError


@ATTACKS.register("fgsm")
class FGSM(IterativeAttack):
    """Fast gradient sign method: one steepest-ascent step of length ``eps`` from the clean image.

    ``x_adv = clip(x + eps * sign(grad_x loss))`` for Linf (Goodfellow et al. 2015); for L2 and
    L1 the step follows :func:`~brittle.attacks.iterative.steepest_ascent` (the normalized
    gradient, and the sparse top-1% direction of Tramèr & Boneh 2019 over the pixels that can
    still move inside the bounds).

    Args:
        eps: Budget in pixel scale; also the step length.
        norm: ``linf``, ``l2`` or ``l1``.
        loss: ``ce`` (the paper's), ``margin`` or ``dlr``.
        keep: ``best`` keeps the clean image when the step lowers the loss and does not fool;
            ``last`` always returns the stepped image (for adversarial training).
        early_stop: Leave samples that are already adversarial at the clean image untouched.
        seed: Unused by the attack itself (it is deterministic); kept for a uniform API.

    Shapes:
        Images ``(N, C, H, W)`` in the classifier's bounds, labels ``(N,)``.

    Example:
        >>> import torch
        >>> from torch import nn
        >>> from brittle.models.classifier import Classifier
        >>> clf = Classifier(nn.Sequential(nn.Flatten(), nn.Linear(4, 3)), input_shape=(1, 2, 2))
        >>> x, y = torch.rand(8, 1, 2, 2), torch.zeros(8, dtype=torch.long)
        >>> result = FGSM(eps=0.1)(clf, x, y)
        >>> bool(result.norms.max() <= 0.1 + 1e-6)
        True
    """

    name = "fgsm"

    def __init__(self, *, eps: float, norm: Norm = "linf", loss: LossKind = "ce",
                 keep: Literal["best", "last"] = "best", early_stop: bool = True,
                 seed: int = 0) -> None:
        super().__init__(eps=eps, norm=norm, steps=1, restarts=1, random_start=False,
                         loss=loss, keep=keep, early_stop=early_stop, seed=seed)
        self.step_size = self.eps  # one full-length step; eps=0 is a valid no-op


@ATTACKS.register("rfgsm")
class RFGSM(IterativeAttack):
    """R+FGSM: a random step of length ``alpha``, then an FGSM step of length ``eps - alpha``.

    Tramèr et al. (2018), Eq. 7: ``x' = x + alpha * sign(N(0, I))``, then
    ``x_adv = x' + (eps - alpha) * sign(grad_x' loss)``. The random step escapes the sharp
    curvature near the data points that single-step attacks otherwise get stuck on (gradient
    masking of FGSM-trained models). For L2/L1 the random step is a Gaussian direction scaled
    to length ``alpha``; by the triangle inequality the result stays within ``eps``.

    Args:
        eps: Total budget in pixel scale.
        alpha: Length of the random step, ``eps / 2`` by default (the paper uses 8/255 of 16/255).
        norm: ``linf``, ``l2`` or ``l1``.
        loss: ``ce``, ``margin`` or ``dlr``.
        keep: ``best`` or ``last``, as for :class:`FGSM`.
        early_stop: Leave samples adversarial at the clean image untouched.
        seed: Seeds the random step.

    Shapes:
        Images ``(N, C, H, W)``, labels ``(N,)``.

    Example:
        >>> import torch
        >>> from torch import nn
        >>> from brittle.models.classifier import Classifier
        >>> clf = Classifier(nn.Sequential(nn.Flatten(), nn.Linear(4, 3)), input_shape=(1, 2, 2))
        >>> x, y = torch.rand(8, 1, 2, 2), torch.zeros(8, dtype=torch.long)
        >>> result = RFGSM(eps=0.1, alpha=0.05)(clf, x, y)
        >>> bool(result.norms.max() <= 0.1 + 1e-6)
        True
    """

    name = "rfgsm"

    def __init__(self, *, eps: float, alpha: float | None = None, norm: Norm = "linf",
                 loss: LossKind = "ce", keep: Literal["best", "last"] = "best",
                 early_stop: bool = True, seed: int = 0) -> None:
        super().__init__(eps=eps, norm=norm, steps=1, restarts=1, random_start=True,
                         loss=loss, keep=keep, early_stop=early_stop, seed=seed)
        alpha = self.eps / 2 if alpha is None else float(alpha)
        if not 0 <= alpha <= self.eps:
            raise BrittleError(f"rfgsm needs 0 <= alpha <= eps, got alpha={alpha}, eps={self.eps}")
        self.alpha = alpha
        self.step_size = self.eps - alpha

    def _start(self, ctx: AttackContext, x0: torch.Tensor, idx: torch.Tensor) -> torch.Tensor:
        noise = ctx.normal_noise(idx)
        if self.norm == "linf":
            return x0 + self.alpha * noise.sign()
        flat = noise.flatten(1)
        length = flat.norm(p=2 if self.norm == "l2" else 1, dim=1).clamp_min(1e-12)
        return x0 + self.alpha * noise / per_sample(length, x0)
