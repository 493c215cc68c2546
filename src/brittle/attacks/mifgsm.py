"""Momentum iterative FGSM (Y. Dong, F. Liao, T. Pang, H. Su, J. Zhu, X. Hu and J. Li,
"Boosting Adversarial Attacks with Momentum", CVPR 2018)."""

from __future__ import annotations

from typing import Literal

import torch

from brittle.attacks.base import LossKind
from brittle.attacks.functional import Norm, per_sample
from brittle.attacks.iterative import IterativeAttack, State, steepest_ascent
from brittle.attacks.registry import ATTACKS
from brittle.errors import BrittleError


@ATTACKS.register("mifgsm")
class MIFGSM(IterativeAttack):
    """MI-FGSM: I-FGSM whose step follows an accumulated, L1-normalized gradient.

    Dong et al. (2018), Alg. 1: ``g_{t+1} = mu * g_t + grad / ||grad||_1`` and
    ``x_{t+1} = x_t + alpha * sign(g_{t+1})`` (Linf), or ``alpha * g / ||g||_2`` (L2, Eq. 8),
    with ``alpha = eps / steps`` and ``mu = 1``. The momentum ``g`` is per-sample state, so it
    stays aligned with its sample when fooled samples leave the batch.

    Args:
        eps: Budget in pixel scale.
        norm: ``linf``, ``l2`` or ``l1``.
        steps: Number of iterations ``T`` (10 in the paper).
        step_size: Step length, ``eps / steps`` by default.
        decay: Momentum decay factor ``mu`` (1.0 in the paper).
        random_start: Start from a random point of the ball (the paper starts at ``x``).
        restarts: Independent restarts (useful only with ``random_start``).
        loss: ``ce`` (the paper's), ``margin`` or ``dlr``.
        keep: ``best`` or ``last``.
        early_stop: Stop a sample once it is adversarial.
        seed: Seeds the random start.

    Shapes:
        Images ``(N, C, H, W)`` in the classifier's bounds, labels ``(N,)``.

    Example:
        >>> import torch
        >>> from torch import nn
        >>> from brittle.models.classifier import Classifier
        >>> clf = Classifier(nn.Sequential(nn.Flatten(), nn.Linear(4, 3)), input_shape=(1, 2, 2))
        >>> x, y = torch.rand(8, 1, 2, 2), torch.zeros(8, dtype=torch.long)
        >>> result = MIFGSM(eps=0.1, steps=5)(clf, x, y)
        >>> bool(result.norms.max() <= 0.1 + 1e-6)
        True
    """

    name = "mifgsm"

    def __init__(self, *, eps: float, norm: Norm = "linf", steps: int = 10,
                 step_size: float | None = None, decay: float = 1.0, random_start: bool = False,
                 restarts: int = 1, loss: LossKind = "ce", keep: Literal["best", "last"] = "best",
                 early_stop: bool = True, seed: int = 0) -> None:
        super().__init__(eps=eps, norm=norm, steps=steps, step_size=step_size,
                         restarts=restarts, random_start=random_start, loss=loss, keep=keep,
                         early_stop=early_stop, seed=seed)
        if not decay >= 0:
            raise BrittleError(f"decay must be >= 0, got {decay}")
        self.decay = float(decay)
        if step_size is None:
            self.step_size = self.eps / self.steps

    def _new_state(self, x0: torch.Tensor) -> State:
        return {"momentum": torch.zeros_like(x0)}

    def _direction(self, grad: torch.Tensor, state: State) -> torch.Tensor:
        l1 = grad.flatten(1).abs().sum(dim=1).clamp_min(1e-12)
        momentum = self.decay * state["momentum"] + grad / per_sample(l1, grad)
        state["momentum"] = momentum
        return steepest_ascent(momentum, self.norm)
