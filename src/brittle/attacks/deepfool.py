"""DeepFool (S.-M. Moosavi-Dezfooli, A. Fawzi and P. Frossard, "DeepFool: a simple and accurate
method to fool deep neural networks", CVPR 2016)."""

from __future__ import annotations

import torch

from brittle.attacks.base import Attack, AttackContext
from brittle.attacks.functional import Norm
from brittle.attacks.registry import ATTACKS
from brittle.errors import BrittleError


@ATTACKS.register("deepfool")
class DeepFool(Attack):
    """DeepFool: step to the closest linearized decision boundary until the label flips.

    At each iteration the classifier is linearized around the current point; for every
    candidate class ``k`` the distance to the boundary with the true class ``y`` is
    ``|f_k| / ||w_k||_*`` with ``f_k = z_k - z_y``, ``w_k = grad z_k - grad z_y`` and ``||.||_*``
    the dual norm (L2 for L2, L1 for Linf; Alg. 2 and Sec. 3.2 of the paper). The minimal step
    towards the closest boundary is added to the total perturbation, which is applied with a
    ``1 + overshoot`` factor. Candidates are the ``candidates`` most likely clean classes
    (the true class included), as in the authors' implementation.

    DeepFool is a minimal-perturbation attack: every sample stops at its own boundary (so
    ``early_stop`` has nothing more to stop), and ``eps`` is the budget the result is reported
    and projected at; pass a large ``eps`` to read the per-sample minimal norms from
    ``result.norms``. Untargeted only.

    Args:
        eps: Reporting budget in pixel scale; results are projected onto this ball.
        norm: ``l2`` or ``linf``.
        steps: Maximum number of linearization steps (50 in the paper's code).
        overshoot: Extra factor on the total perturbation to cross the boundary (0.02).
        candidates: Number of top clean classes considered, the true class included (10).
        early_stop: Accepted for a uniform API; DeepFool always stops at the boundary.
        seed: Unused (the attack is deterministic).

    Shapes:
        Images ``(N, C, H, W)`` in the classifier's bounds, labels ``(N,)``.

    Example:
        >>> import torch
        >>> from torch import nn
        >>> from brittle.models.classifier import Classifier
        >>> clf = Classifier(nn.Sequential(nn.Flatten(), nn.Linear(4, 3)), input_shape=(1, 2, 2))
        >>> x, y = torch.rand(8, 1, 2, 2), torch.zeros(8, dtype=torch.long)
        >>> result = DeepFool(eps=10.0)(clf, x, y)
        >>> result.norms.shape
        torch.Size([8])
    """

    name = "deepfool"
    norms: tuple[Norm, ...] = ("l2", "linf")
    targeted_ok = False

    def __init__(self, *, eps: float, norm: Norm = "l2", steps: int = 50,
                 overshoot: float = 0.02, candidates: int = 10, early_stop: bool = True,
                 seed: int = 0) -> None:
        super().__init__(eps=eps, norm=norm, early_stop=early_stop, seed=seed)
        if steps < 1 or candidates < 2:
            raise BrittleError(f"deepfool needs steps >= 1 and candidates >= 2, got {steps} "
                               f"and {candidates}")
        if not overshoot >= 0:
            raise BrittleError(f"overshoot must be >= 0, got {overshoot}")
        self.steps = int(steps)
        self.overshoot = float(overshoot)
        self.candidates = int(candidates)

    def _search(self, ctx: AttackContext) -> tuple[torch.Tensor, torch.Tensor]:
        x_adv = ctx.x.clone()
        first = torch.full((len(ctx.x),), -1, dtype=torch.int64, device=ctx.x.device)
        idx = torch.arange(len(ctx.x), device=ctx.x.device)
        x0, y, x_cur = ctx.x, ctx.labels, ctx.x.clone()
        r_tot = torch.zeros_like(x0)
        classes: torch.Tensor | None = None
        for t in range(self.steps + 1):
            if t == self.steps:
                with torch.no_grad():
                    logits = ctx.logits(x_cur)
            else:
                logits, classes, jac = self._jacobian(ctx, x_cur, y, classes)
            adv = logits.argmax(1) != y
            first[idx[adv]] = t
            x_adv[idx[adv]] = x_cur[adv]
            keep = ~adv
            idx, x0, y, x_cur, r_tot = idx[keep], x0[keep], y[keep], x_cur[keep], r_tot[keep]
            if idx.numel() == 0 or t == self.steps:
                break
            assert classes is not None
            classes, jac = classes[keep], jac[keep]
            r_tot = r_tot + self._minimal_step(logits[keep].gather(1, classes), jac)
            x_cur = (x0 + (1 + self.overshoot) * r_tot).clamp(*ctx.bounds)
        x_adv[idx] = x_cur  # samples never fooled return the last iterate
        return x_adv, first

    def _jacobian(self, ctx: AttackContext, x: torch.Tensor, y: torch.Tensor,
                  classes: torch.Tensor | None,
                  ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Logits ``(m, K)``, candidate classes ``(m, k)`` (column 0: the true class) and the
        input gradients of the candidate logits ``(m, k, C, H, W)``; input gradients only."""
        x = x.detach().requires_grad_(True)
        with torch.enable_grad():
            logits = ctx.logits(x)
            if classes is None:
                classes = self._top_classes(logits.detach(), y)
            picked = logits.gather(1, classes)
            k = classes.shape[1]
            grads = [torch.autograd.grad(picked[:, j].sum(), x, retain_graph=j < k - 1)[0]
                     for j in range(k)]
        return logits.detach(), classes, torch.stack(grads, dim=1)

    def _top_classes(self, logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        k = min(self.candidates, logits.shape[1])
        others = logits.scatter(1, y[:, None], float("-inf")).topk(k - 1, dim=1).indices
        return torch.cat([y[:, None], others], dim=1)

    def _minimal_step(self, picked: torch.Tensor, jac: torch.Tensor) -> torch.Tensor:
        """The step onto the closest linearized boundary, per sample, shape of one image batch."""
        f = picked[:, 1:] - picked[:, :1]                    # (m, k-1), negative: not yet fooled
        w = jac[:, 1:] - jac[:, :1]                          # (m, k-1, C, H, W)
        dual = 2 if self.norm == "l2" else 1
        w_norm = w.flatten(2).norm(p=dual, dim=2).clamp_min(1e-12)
        best = (f.abs() / w_norm).argmin(dim=1)
        rows = torch.arange(len(best), device=best.device)
        f_b, w_b, n_b = f[rows, best].abs() + 1e-4, w[rows, best], w_norm[rows, best]
        shape = (-1, *([1] * (w_b.ndim - 1)))
        if self.norm == "l2":
            return (f_b / n_b**2).view(shape) * w_b
        return (f_b / n_b).view(shape) * w_b.sign()
