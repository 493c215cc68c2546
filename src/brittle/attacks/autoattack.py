"""AutoAttack (Croce & Hein 2020, "Reliable evaluation of adversarial robustness with an ensemble
of diverse parameter-free attacks", ICML): a fixed cascade of complementary attacks.

The ``standard`` version runs APGD-CE, APGD-T (9 target classes), FAB-T (9 target classes)
and Square (5000 queries), each only on the samples that every earlier attack failed on; a
sample counts as broken by the first attack that finds an adversarial example within eps.
``fast`` keeps the two gradient attacks only.
"""

from __future__ import annotations

from typing import Literal

import torch

from brittle.attacks.apgd import APGDCE, APGDT
from brittle.attacks.base import Attack, AttackContext
from brittle.attacks.fab import FABT
from brittle.attacks.functional import Norm, is_adversarial
from brittle.attacks.registry import ATTACKS
from brittle.attacks.square import Square
from brittle.attacks.sweep import clean_logits
from brittle.errors import BrittleError

Version = Literal["standard", "fast"]
VERSIONS: dict[str, tuple[str, ...]] = {
    "standard": ("apgd-ce", "apgd-t", "fab-t", "square"),
    "fast": ("apgd-ce", "apgd-t"),
}


@ATTACKS.register("autoattack")
class AutoAttack(Attack):
    """AutoAttack's cascade of parameter-free attacks (Croce & Hein 2020, ICML); untargeted.

    Args:
        eps: Perturbation budget in pixel scale.
        norm: ``linf`` or ``l2``.
        version: ``standard`` (APGD-CE, APGD-T, FAB-T, Square) or ``fast`` (the APGDs only).
        steps: Iterations of APGD-CE, APGD-T and FAB-T.
        n_target_classes: Target classes swept by APGD-T and FAB-T.
        n_queries: Square's query budget per sample.
        seed: Seeds every component the same way, so results repeat exactly.

    Inputs are images ``(N, C, H, W)`` and labels ``(N,)``. ``AttackResult.info["broken_by"]``
    ``(N,)`` holds, per sample, the index into ``params["attacks"]`` of the attack that broke
    it, or -1 if none did (still robust, or misclassified already: see ``clean_correct``);
    ``success_step`` is that attack's own ``success_step``.

    Example:
        >>> import torch
        >>> from torch import nn
        >>> from brittle.models import Classifier
        >>> clf = Classifier(nn.Sequential(nn.Flatten(), nn.Linear(16, 4)), input_shape=(1, 4, 4))
        >>> x, y = torch.rand(8, 1, 4, 4), torch.zeros(8, dtype=torch.long)
        >>> result = AutoAttack(eps=0.1, version="fast", steps=10)(clf, x, y)
        >>> result.info["broken_by"].shape
        torch.Size([8])
    """

    name = "autoattack"
    norms: tuple[Norm, ...] = ("linf", "l2")
    targeted_ok = False

    def __init__(self, *, eps: float, norm: Norm = "linf", version: Version = "standard",
                 steps: int = 100, n_target_classes: int = 9, n_queries: int = 5000,
                 seed: int = 0) -> None:
        super().__init__(eps=eps, norm=norm, early_stop=True, seed=seed)
        if version not in VERSIONS:
            raise BrittleError(f"unknown AutoAttack version {version!r}; use "
                               f"{' or '.join(VERSIONS)}")
        self.version = version
        self.steps = int(steps)
        self.n_target_classes = int(n_target_classes)
        self.n_queries = int(n_queries)
        self.attacks = list(VERSIONS[version])

    def components(self) -> list[Attack]:
        """The attacks of the cascade, in order, configured as in the reference settings."""
        eps, norm, seed = self.eps, self.norm, self.seed
        steps, targets = self.steps, self.n_target_classes
        built: dict[str, Attack] = {
            "apgd-ce": APGDCE(eps=eps, norm=norm, steps=steps, seed=seed),
            "apgd-t": APGDT(eps=eps, norm=norm, steps=steps, n_target_classes=targets, seed=seed),
            "fab-t": FABT(eps=eps, norm=norm, steps=steps, n_target_classes=targets, seed=seed),
        }
        if "square" in self.attacks:
            built["square"] = Square(eps=eps, norm=norm, n_queries=self.n_queries, seed=seed)
        return [built[name] for name in self.attacks]

    def _search(self, ctx: AttackContext) -> tuple[torch.Tensor, torch.Tensor]:
        n, dev = len(ctx.x), ctx.x.device
        out = ctx.x.clone()
        first = torch.full((n,), -1, dtype=torch.int64, device=dev)
        broken_by = torch.full_like(first, -1)
        robust = ~is_adversarial(clean_logits(ctx), ctx.labels, None)
        for code, attack in enumerate(self.components()):
            idx = torch.nonzero(robust).flatten()
            if idx.numel() == 0:
                break
            with attack.drawing_as_rows(ctx.rows[idx.cpu()], ctx.n_rows):
                result = attack(ctx.classifier, ctx.x[idx], ctx.labels[idx])
            hit = idx[result.success]
            out[hit] = result.x_adv[result.success]
            first[hit] = result.success_step[result.success]
            broken_by[hit] = code
            robust[hit] = False
        ctx.info["broken_by"] = broken_by
        return out, first
