"""The basic iterative method, BIM or I-FGSM (A. Kurakin, I. Goodfellow and S. Bengio,
"Adversarial Examples in the Physical World", ICLR workshop 2017)."""

from __future__ import annotations

import math
from typing import Literal

from brittle.attacks.base import LossKind
from brittle.attacks.functional import Norm
from brittle.attacks.iterative import IterativeAttack
from brittle.attacks.registry import ATTACKS

PIXEL = 1.0 / 255.0  # one intensity level of an 8-bit image, the paper's step


def paper_steps(eps: float) -> int:
    """Kurakin et al.'s iteration count ``min(eps + 4, 1.25 eps)`` with ``eps`` in 0-255 levels.

    Example:
        >>> paper_steps(8 / 255), paper_steps(0.3)
        (10, 80)
    """
    levels = eps / PIXEL
    return max(1, int(min(levels + 4, 1.25 * levels) + 1e-9))


@ATTACKS.register("bim")
class BIM(IterativeAttack):
    """BIM / I-FGSM: FGSM repeated with a small step, clipped to the eps ball after each step.

    It is PGD without the random start (and without restarts, which would repeat the same
    deterministic run). Defaults follow the paper for Linf: with neither ``steps`` nor
    ``step_size`` given, the step is one intensity level (1/255) and the number of steps is
    ``min(eps*255 + 4, 1.25 * eps*255)`` (10 steps for eps = 8/255, 80 for eps = 0.3). When
    only ``steps`` is given, or for L2/L1 (10 steps by default), the step is ``eps / steps``,
    the I-FGSM convention of Dong et al. (2018).

    Args:
        eps: Budget in pixel scale.
        norm: ``linf``, ``l2`` or ``l1``.
        steps: Number of steps; see above for the default.
        step_size: Step length in the attack's norm; see above for the default.
        loss: ``ce`` (the paper's), ``margin`` or ``dlr``.
        keep: ``best`` (first adversarial or highest-loss iterate) or ``last``.
        early_stop: Stop a sample once it is adversarial.
        seed: Unused by the (deterministic) attack; kept for a uniform API.

    Shapes:
        Images ``(N, C, H, W)`` in the classifier's bounds, labels ``(N,)``.

    Example:
        >>> import torch
        >>> from torch import nn
        >>> from brittle.models.classifier import Classifier
        >>> clf = Classifier(nn.Sequential(nn.Flatten(), nn.Linear(4, 3)), input_shape=(1, 2, 2))
        >>> x, y = torch.rand(8, 1, 2, 2), torch.zeros(8, dtype=torch.long)
        >>> attack = BIM(eps=8 / 255)
        >>> attack.steps, round(attack.step_size * 255, 6)
        (10, 1.0)
        >>> bool(attack(clf, x, y).norms.max() <= 8 / 255 + 1e-6)
        True
    """

    name = "bim"

    def __init__(self, *, eps: float, norm: Norm = "linf", steps: int | None = None,
                 step_size: float | None = None, loss: LossKind = "ce",
                 keep: Literal["best", "last"] = "best", early_stop: bool = True,
                 seed: int = 0) -> None:
        paper = norm == "linf" and steps is None and step_size is None
        if steps is None:
            steps = (paper_steps(eps) if norm == "linf" and isinstance(eps, (int, float))
                     and math.isfinite(eps) else 10)
        super().__init__(eps=eps, norm=norm, steps=steps, step_size=step_size, restarts=1,
                         random_start=False, loss=loss, keep=keep, early_stop=early_stop,
                         seed=seed)
        if step_size is None:
            self.step_size = PIXEL if paper else self.eps / self.steps
