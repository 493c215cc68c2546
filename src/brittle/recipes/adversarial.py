"""Adversarial training: each batch is replaced by attacks on it before the weight update.

- ``pgd-at``: Madry et al. 2018, "Towards Deep Learning Models Resistant to Adversarial
  Attacks": train on the final PGD iterate from a random start.
- ``fast-at``: Wong, Rice & Kolter 2020, "Fast is better than free: Revisiting adversarial
  training": a single FGSM step of size ``1.25 * eps`` from a uniform random start.

The adversarial examples are generated with the model in eval mode (the attack base class
does that and restores train mode), so batch-norm statistics are only updated on the batch the
model is trained on.

``eps_warmup=k`` ramps the budget over the first ``k`` epochs (epoch ``e`` trains at
``eps * e / (k + 1)``, step size scaled alike), the usual warm-up of MNIST adversarial training
(e.g. Zhang et al. 2019, TRADES; Gowal et al. 2018, IBP). On MNIST at eps 0.3 it is what keeps
single-step training of LeNet-5 from learning to resist only its own FGSM step: 88% against
PGD-20 after 10 epochs with ``eps_warmup=2``, against 46% without (docs/benchmarks.md).

``start="prior"`` starts each sample's attack from its own perturbation of the previous epoch
instead of uniform noise (the accumulated perturbations of Zheng et al. 2020, "Efficient
Adversarial Training with Transferable Adversarial Examples", and the sample-wise prior of Jia
et al. 2022, "Prior-Guided Adversarial Initialization for Fast Adversarial Training"): the
single FGSM steps of successive epochs add up to a multi-step attack at no extra cost. The
perturbations are kept relative to the budget, so the warm-up's growing eps scales them, in
half precision: 2 bytes per pixel of the training set (94 MB for MNIST's 60,000 images).
"""

from __future__ import annotations

from typing import Any, Literal, get_args

import torch
import torch.nn.functional as F

from brittle.attacks.pgd import PGD
from brittle.data.base import ImageDataset
from brittle.errors import BrittleError
from brittle.models.classifier import Classifier
from brittle.recipes.base import Recipe
from brittle.recipes.registry import RECIPES

Start = Literal["uniform", "prior"]
STARTS: tuple[str, ...] = get_args(Start)


class AdversarialRecipe(Recipe):
    """Cross-entropy on PGD examples of ``steps`` steps of ``step_size`` within Linf ``eps``,
    each starting from uniform noise or (``start="prior"``) from the sample's last perturbation.
    """

    extra_fields = ("eps", "steps", "step_size", "eps_warmup", "start")
    default_eps = 0.3

    def __init__(self, *, eps: float | None = None, steps: int | None = None,
                 step_size: float | None = None, eps_warmup: int = 0, start: Start = "uniform",
                 **settings: Any) -> None:
        super().__init__(**settings)
        self.eps = float(self.default_eps if eps is None else eps)
        self.start = start
        self.steps = int(self._default_steps() if steps is None else steps)
        self.step_size = float(self._default_step_size() if step_size is None else step_size)
        self.eps_warmup = int(eps_warmup)
        if not 0 < self.eps <= 1 or self.steps < 1 or self.step_size <= 0:
            raise BrittleError(f"{self.name}: need 0 < eps <= 1, steps >= 1 and step_size > 0")
        if not 0 <= self.eps_warmup < self.config.epochs:
            raise BrittleError(f"{self.name}: eps_warmup must be in [0, epochs), got "
                               f"{self.eps_warmup}")
        if start not in STARTS:
            raise BrittleError(f"{self.name}: start must be one of {', '.join(STARTS)}, "
                               f"got {start!r}")
        self._attack = self._pgd(1.0)
        self._prior: torch.Tensor | None = None

    def _pgd(self, scale: float) -> PGD:
        return PGD(eps=self.eps * scale, steps=self.steps, step_size=self.step_size * scale,
                   random_start=True, keep="last", early_stop=False)

    def begin_fit(self, train: ImageDataset, device: torch.device | str) -> None:
        """With ``start="prior"``: every sample's first start is uniform noise, as Wong et al."""
        self._prior = None
        if self.start == "prior":
            self._prior = torch.empty(len(train), *train.input_shape, dtype=torch.float16,
                                      device=device).uniform_(-1, 1)

    def end_fit(self) -> None:
        self._prior = None

    def begin_epoch(self, epoch: int) -> None:
        """Scale the budget for the warm-up epochs (``epoch`` counts from 1)."""
        if self.eps_warmup:
            self._attack = self._pgd(min(1.0, epoch / (self.eps_warmup + 1)))

    def _default_steps(self) -> int:
        return 40

    def _default_step_size(self) -> float:
        return 2.5 * self.eps / 40

    def batch_loss(self, classifier: Classifier, x: torch.Tensor, y: torch.Tensor,
                   index: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        # the attack re-seeds its generator on every call: without a new seed per batch every
        # batch would start from the same noise. fit() seeded the global stream, so this repeats.
        self._attack.seed = int(torch.randint(2**62, ()))
        if self._prior is None:
            x_adv = self._attack(classifier, x, y).x_adv
        else:
            eps = self._attack.eps
            with self._attack.warm_start(x + eps * self._prior[index].to(x.dtype)):
                x_adv = self._attack(classifier, x, y).x_adv
            self._prior[index] = ((x_adv - x) / eps).to(self._prior.dtype)
        logits = classifier(x_adv)
        return F.cross_entropy(logits, y), logits


@RECIPES.register("pgd-at")
class PGDAT(AdversarialRecipe):
    """PGD adversarial training (Madry et al. 2018); MNIST defaults: eps 0.3, 40 steps of 0.01.

    Example:
        >>> PGDAT(eps=8 / 255, steps=7, step_size=2 / 255).settings()["steps"]
        7
    """

    name = "pgd-at"

    def _default_step_size(self) -> float:
        return 0.01 if self.eps == 0.3 else 2.5 * self.eps / self.steps


@RECIPES.register("fast-at")
class FastAT(AdversarialRecipe):
    """FGSM with a uniform random start and step ``1.25 * eps`` (Wong et al. 2020); from the
    prior start the step is ``eps``, which trains the more robust LeNet-5 on MNIST (88.3%
    against 85.5% under PGD-50x10 over three seeds; docs/benchmarks.md).

    Example:
        >>> FastAT(eps=0.3).settings()["step_size"]
        0.375
        >>> FastAT(eps=0.3, start="prior").settings()["step_size"]
        0.3
    """

    name = "fast-at"

    def _default_steps(self) -> int:
        return 1

    def _default_step_size(self) -> float:
        return (1.0 if self.start == "prior" else 1.25) * self.eps
