"""The attack base class: it enforces the invariants so each attack writes only its search.

``Attack.__call__`` is final. It validates the inputs once, freezes the parameters (no weight
gradient is ever computed), switches to eval mode and restores the user's modes, resolves the
target, lets the attack search, then projects the result onto the eps ball and the bounds and
measures success from one last forward pass. Inputs are never mutated.
"""

from __future__ import annotations

import contextlib
import math
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, Literal, final

import torch
from torch import nn

from brittle._utils.stats import Rate
from brittle.attacks.functional import (
    NORMS,
    Norm,
    attack_loss,
    inside,
    is_adversarial,
    lp_norm,
    project,
)
from brittle.attacks.targets import TargetSpec, resolve_target
from brittle.errors import BrittleError
from brittle.models.classifier import Classifier, as_classifier

LossKind = Literal["ce", "dlr", "margin"]
LossFn = Callable[[torch.Tensor, torch.Tensor, "torch.Tensor | None"], torch.Tensor]
"""A custom per-sample loss ``(logits, labels, target) -> (N,)`` that the attacker maximizes."""


@dataclass
class AttackResult:
    """What an attack found, per sample.

    Attributes:
        x_adv: Adversarial images ``(N, C, H, W)``, inside the bounds and the eps ball.
        success: ``(N,)`` bool; untargeted: misclassified, targeted: classified as ``target``.
        success_step: ``(N,)`` int64; the step at which the sample first succeeded (0: already
            at the clean input), -1 if it never did.
        logits: Logits on ``x_adv``, ``(N, K)``.
        clean_logits: Logits on the clean images, ``(N, K)``.
        labels: True labels ``(N,)``.
        target: Target labels ``(N,)`` or ``None`` (untargeted).
        norms: ``(N,)`` perturbation size in the attack's norm.
        eps, norm, attack, params: the threat model and settings.
        queries: ``(N,)`` model queries per sample, for score-based attacks.
        info: Extra per-sample facts ``(N,)`` an attack reports (e.g. AutoAttack's
            ``broken_by``); the attack's docstring says what each key means.
    """

    x_adv: torch.Tensor
    success: torch.Tensor
    success_step: torch.Tensor
    logits: torch.Tensor
    clean_logits: torch.Tensor
    labels: torch.Tensor
    target: torch.Tensor | None
    norms: torch.Tensor
    eps: float
    norm: Norm
    attack: str
    params: dict[str, Any] = field(default_factory=dict)
    queries: torch.Tensor | None = None
    info: dict[str, torch.Tensor] = field(default_factory=dict)

    @property
    def clean_correct(self) -> torch.Tensor:
        return self.clean_logits.argmax(1) == self.labels

    @property
    def adv_correct(self) -> torch.Tensor:
        return self.logits.argmax(1) == self.labels

    def robust_accuracy(self) -> Rate:
        """Share of all samples still classified correctly under attack."""
        return Rate.of(int(self.adv_correct.sum()), len(self.labels))

    def success_rate(self) -> Rate:
        """Share of the clean-correct samples on which the attack succeeded."""
        ok = self.clean_correct
        return Rate.of(int((self.success & ok).sum()), int(ok.sum()))


class AttackContext:
    """What an attack's search sees: the frozen classifier, the clean batch and its goal.

    ``clean_logits`` ``(N, K)`` are the logits on ``x`` (``None`` when the caller did not
    compute them); ``info`` collects per-sample tensors that end up in ``AttackResult.info``.
    A search may set ``candidate_logits`` ``(N, K)`` to the logits of the images it returns;
    the base class then skips its final forward pass if those images are inside the eps ball
    and the bounds (otherwise it projects them and recomputes).
    """

    def __init__(self, classifier: Classifier, x: torch.Tensor, labels: torch.Tensor,
                 target: torch.Tensor | None, eps: float, norm: Norm,
                 generator: torch.Generator, clean_logits: torch.Tensor | None = None,
                 rows: tuple[torch.Tensor, int] | None = None) -> None:
        self.classifier = classifier
        self.x = x
        self.labels = labels
        self.target = target
        self.eps = eps
        self.norm = norm
        self.bounds = classifier.bounds
        self.generator = generator
        self.forward_count = 0
        self.clean_logits = clean_logits
        # each image's row in the batch that random draws are made for (see uniform)
        self.rows, self.n_rows = rows if rows is not None else (torch.arange(len(x)), len(x))
        self.info: dict[str, torch.Tensor] = {}
        self.candidate_logits: torch.Tensor | None = None

    def logits(self, x: torch.Tensor) -> torch.Tensor:
        self.forward_count += len(x)
        return self.classifier(x)

    def loss_and_grad(self, x_adv: torch.Tensor, labels: torch.Tensor,
                      target: torch.Tensor | None, kind: LossKind | LossFn = "ce",
                      ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Per-sample loss ``(N,)``, logits ``(N, K)`` and the input gradient of the summed loss.

        ``kind`` names a loss of :func:`attack_loss` or is a :data:`LossFn`. Only the input gets
        a gradient: parameters are frozen for the whole attack.
        """
        x_adv = x_adv.detach().requires_grad_(True)
        with torch.enable_grad():
            logits = self.logits(x_adv)
            loss = (kind(logits, labels, target) if callable(kind)
                    else attack_loss(logits, labels, target, kind))
            (grad,) = torch.autograd.grad(loss.sum(), x_adv)
        return loss.detach(), logits.detach(), grad.detach()

    def logits_and_jacobian(self, x_adv: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Logits ``(N, K)`` and the input gradient of every logit, ``(N, K, D)``.

        One forward pass and one backward pass per class through the kept graph: half the
        cost of a pass over ``K`` copies of the batch, and a ``K``-th of its activation memory.
        """
        x_adv = x_adv.detach().requires_grad_(True)
        k = self.classifier.num_classes
        with torch.enable_grad():
            logits = self.logits(x_adv)
            grads = [torch.autograd.grad(logits[:, c].sum(), x_adv, retain_graph=c < k - 1)[0]
                     for c in range(k)]
        return logits.detach(), torch.stack(grads, dim=1).flatten(2)

    def project(self, x_adv: torch.Tensor, x: torch.Tensor,
                eps: float | torch.Tensor | None = None) -> torch.Tensor:
        return project(x_adv, x, self.eps if eps is None else eps, self.norm, self.bounds)

    def uniform_noise(self, idx: torch.Tensor) -> torch.Tensor:
        """Uniform noise in [-1, 1] for the images ``idx``, ``(len(idx), C, H, W)``."""
        return 2 * self.uniform(idx, tuple(self.x.shape[1:])) - 1

    def normal_noise(self, idx: torch.Tensor) -> torch.Tensor:
        """Standard normal noise for the images ``idx``, ``(len(idx), C, H, W)``."""
        full = torch.randn((self.n_rows, *self.x.shape[1:]), generator=self.generator,
                           dtype=self.x.dtype)
        return self._rows_of(full, idx)

    def uniform(self, idx: torch.Tensor, shape: tuple[int, ...]) -> torch.Tensor:
        """Uniform numbers in [0, 1) of shape ``(len(idx), *shape)`` for the samples ``idx``.

        Every draw is made for the whole batch and each sample takes its own row, so a sample
        gets the same numbers whichever others are still being attacked with it: a restart, a
        target class or an AutoAttack stage that sees only the samples still robust draws for
        each of them what a run over the whole batch would.
        """
        full = torch.rand((self.n_rows, *shape), generator=self.generator, dtype=self.x.dtype)
        return self._rows_of(full, idx)

    def integers(self, high: int, idx: torch.Tensor, shape: tuple[int, ...] = ()) -> torch.Tensor:
        """Integers in ``[0, high)`` of shape ``(len(idx), *shape)``, drawn as :meth:`uniform`."""
        full = torch.randint(0, high, (self.n_rows, *shape), generator=self.generator)
        return self._rows_of(full, idx)

    def _rows_of(self, full: torch.Tensor, idx: torch.Tensor) -> torch.Tensor:
        return full[self.rows[idx.cpu()]].to(self.x.device)


class Attack(ABC):
    """Base class of every attack.

    Subclasses implement :meth:`_search`, which returns candidate adversarial images and the
    step at which each first succeeded. Everything else (validation, eval mode, frozen weights,
    targets, projection, success flags) is done here, once.

    Args:
        eps: Perturbation budget in pixel scale (8/255 means 8/255 of the full range).
        norm: ``linf``, ``l2`` or ``l1``.
        early_stop: Stop working on a sample as soon as it is adversarial (evaluation mode).
        seed: Seeds random starts, random targets and sampling, so results repeat exactly.
    """

    name: str = "attack"
    norms: tuple[Norm, ...] = NORMS
    targeted_ok: bool = True
    _rows: tuple[torch.Tensor, int] | None = None  # set only inside drawing_as_rows()

    def __init__(self, *, eps: float, norm: Norm = "linf", early_stop: bool = True,
                 seed: int = 0) -> None:
        if norm not in self.norms:
            raise BrittleError(f"{self.name} supports norms {', '.join(self.norms)}, not {norm!r}")
        if not (isinstance(eps, (int, float)) and math.isfinite(eps) and eps >= 0):
            raise BrittleError(f"eps must be a finite number >= 0, got {eps!r}")
        self.eps = float(eps)
        self.norm: Norm = norm
        self.early_stop = early_stop
        self.seed = seed

    def settings(self) -> dict[str, Any]:
        """The attack's hyperparameters, as recorded in results."""
        return {k: v for k, v in vars(self).items() if not k.startswith("_")}

    @final
    def __call__(self, model: nn.Module, x: torch.Tensor, y: torch.Tensor, *,
                 target: TargetSpec = None, **facts: Any) -> AttackResult:
        """Attack images ``x`` ``(N, C, H, W)`` with true labels ``y`` ``(N,)``.

        ``model`` is a :class:`Classifier` or a bare module plus ``facts`` (``input_shape``...).
        """
        clf = as_classifier(model, **facts)
        x, y = self._validated(clf, x, y)
        if self._rows is not None and len(self._rows[0]) != len(x):
            raise BrittleError(f"{len(self._rows[0])} random-draw rows for {len(x)} images")
        generator = torch.Generator().manual_seed(self.seed)
        with clf.evaluating(), frozen(clf):
            with torch.no_grad():
                clean_logits = clf(x)
            tgt = resolve_target(target, clean_logits, y, generator=generator)
            if tgt is not None and not self.targeted_ok:
                raise BrittleError(f"{self.name} is an untargeted attack")
            ctx = AttackContext(clf, x, y, tgt, self.eps, self.norm, generator, clean_logits,
                                rows=self._rows)
            x_adv, step = self._search(ctx)
            x_adv, logits = x_adv.detach(), ctx.candidate_logits
            if logits is None or not inside(x_adv, x, self.eps, self.norm, clf.bounds):
                x_adv = ctx.project(x_adv, x)
                with torch.no_grad():
                    logits = clf(x_adv)
        success = is_adversarial(logits, y, tgt)
        clean_success = is_adversarial(clean_logits, y, tgt)
        step = torch.where(clean_success, torch.zeros_like(step), step)
        step = torch.where(success, step.clamp_min(0), torch.full_like(step, -1))
        queries = self._queries(ctx)
        return AttackResult(x_adv=x_adv, success=success, success_step=step, logits=logits,
                            clean_logits=clean_logits, labels=y, target=tgt,
                            norms=lp_norm(x_adv - x, self.norm), eps=self.eps, norm=self.norm,
                            attack=self.name, params=self.settings(),
                            queries=queries, info=ctx.info)

    @contextlib.contextmanager
    def drawing_as_rows(self, rows: torch.Tensor, n_rows: int) -> Iterator[None]:
        """Within the block, the images of a call draw their random numbers as rows ``rows``
        ``(N,)`` of a batch of ``n_rows`` (see :meth:`AttackContext.uniform`): a cascade stage
        run on the samples still robust then makes, per sample, the draws of a run on the whole
        batch, so the cascade is at least as strong as each stage run alone."""
        self._rows = (rows.detach().cpu(), int(n_rows))
        try:
            yield
        finally:
            self._rows = None

    @abstractmethod
    def _search(self, ctx: AttackContext) -> tuple[torch.Tensor, torch.Tensor]:
        """Return candidate images ``(N, C, H, W)`` and the first success step ``(N,)`` (-1:
        never). The base class projects the candidates, so small overshoots are harmless."""

    def _queries(self, ctx: AttackContext) -> torch.Tensor | None:
        return None

    def _validated(self, clf: Classifier, x: torch.Tensor,
                   y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        if not isinstance(x, torch.Tensor) or not isinstance(y, torch.Tensor):
            raise BrittleError("images and labels must be torch tensors")
        clf.check_input(x)
        if y.shape != (x.shape[0],) or y.dtype.is_floating_point or y.dtype == torch.bool:
            raise BrittleError(f"labels must be integer (N,) = ({x.shape[0]},), got "
                               f"{tuple(y.shape)} {y.dtype}")
        if not torch.isfinite(x).all():
            raise BrittleError("images contain NaN or inf")
        low, high = clf.bounds
        if x.min() < low or x.max() > high:
            raise BrittleError(f"images must lie in the bounds [{low}, {high}]; got "
                               f"[{float(x.min()):.3g}, {float(x.max()):.3g}]")
        if self.norm == "linf" and self.eps > high - low:
            raise BrittleError(f"Linf eps {self.eps} exceeds the input range {high - low}")
        if y.numel() and (y.min() < 0 or y.max() >= clf.num_classes):
            raise BrittleError(f"labels must lie in [0, {clf.num_classes - 1}]")
        device = clf.device
        return x.detach().to(device).clone(), y.to(device=device, dtype=torch.int64)


@contextlib.contextmanager
def frozen(module: nn.Module) -> Iterator[None]:
    """Switch off ``requires_grad`` on every parameter and restore each flag afterwards."""
    flags = [(p, p.requires_grad) for p in module.parameters()]
    for p, _ in flags:
        p.requires_grad_(False)
    try:
        yield
    finally:
        for p, flag in flags:
            p.requires_grad_(flag)
