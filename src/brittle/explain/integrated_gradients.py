"""Integrated Gradients (Sundararajan, Taly and Yan 2017)."""

from __future__ import annotations

import torch

from brittle.errors import BrittleError
from brittle.explain.base import EXPLAINERS, Explainer, sample_chunks
from brittle.explain.functional import (
    INTEGRATION_METHODS,
    IntegrationMethod,
    gradients_and_scores,
    integration_points,
    target_scores,
)
from brittle.models.classifier import Classifier


@EXPLAINERS.register("integrated_gradients")
class IntegratedGradients(Explainer):
    """Path integral of the input gradient from a baseline to the image, times the difference.

    "Axiomatic Attribution for Deep Networks" (Sundararajan et al. 2017):
    ``IG_i(x) = (x_i - x'_i) * integral_0^1 dF(x' + a (x - x'))/dx_i da``, with ``F`` the target
    logit, approximated with ``steps`` points. By completeness the attributions sum to
    ``F(x) - F(x')``; ``info["completeness_gap"]`` reports
    ``|sum(IG) - (F(x) - F(x'))| / |F(x) - F(x')|`` per sample (NaN when ``F(x) = F(x')``), a
    direct measure of the integration error.

    Args:
        steps: Integration points per image.
        method: ``gausslegendre`` (as captum's default) or ``riemann_trapezoid`` (exact trapezoid
            rule on evenly spaced points, ends included).
        baseline: The reference image ``x'``: a number (0, black, by default), a ``(C, H, W)``
            image or an ``(N, C, H, W)`` batch, in pixel space.
        batch_size: Most interpolated images in one forward/backward pass.

    Example:
        >>> import torch
        >>> from brittle.models import build_classifier
        >>> clf = build_classifier("lenet5", input_shape=(1, 28, 28), num_classes=10)
        >>> e = IntegratedGradients(steps=16)(clf, torch.rand(2, 1, 28, 28))
        >>> e.maps.shape, e.info["completeness_gap"].shape
        (torch.Size([2, 1, 28, 28]), torch.Size([2]))
    """

    name = "integrated_gradients"

    def __init__(self, *, steps: int = 50, method: IntegrationMethod = "gausslegendre",
                 baseline: float | torch.Tensor = 0.0, batch_size: int = 256) -> None:
        super().__init__(batch_size=batch_size)
        if method not in INTEGRATION_METHODS:
            raise BrittleError(f"unknown integration method {method!r}; known: "
                               f"{', '.join(INTEGRATION_METHODS)}")
        minimum = 2 if method == "riemann_trapezoid" else 1
        if not (isinstance(steps, int) and steps >= minimum):
            raise BrittleError(f"steps must be an integer >= {minimum} for {method}, got "
                               f"{steps!r}")
        self.steps = steps
        self.method: IntegrationMethod = method
        self.baseline = baseline

    def settings(self) -> dict[str, object]:
        settings = super().settings()
        if isinstance(self.baseline, torch.Tensor):
            settings["baseline"] = f"tensor{tuple(self.baseline.shape)}"
        return settings

    def _explain(self, clf: Classifier, x: torch.Tensor, target: torch.Tensor,
                 ) -> tuple[torch.Tensor, None, dict[str, torch.Tensor]]:
        baseline = self._baseline(x)
        alphas, weights = (t.to(device=x.device, dtype=x.dtype)
                           for t in integration_points(self.steps, self.method))
        shape = (-1, *[1] * (x.ndim - 1))
        maps, ends = [], []
        for chunk in sample_chunks(len(x), self.steps, self.batch_size):
            start, delta = baseline[chunk], x[chunk] - baseline[chunk]
            path = (start[:, None] + alphas.view(1, *shape) * delta[:, None]).flatten(0, 1)
            tgt = target[chunk].repeat_interleave(self.steps)
            grads, scores = gradients_and_scores(clf, path, tgt, batch_size=self.batch_size)
            avg = (grads.unflatten(0, (-1, self.steps)) * weights.view(1, *shape)).sum(1)
            maps.append(delta * avg)
            ends.append(scores.unflatten(0, (-1, self.steps))[:, [-1, 0]])
        attributions = torch.cat(maps) if maps else torch.zeros_like(x)
        if self.method == "riemann_trapezoid":  # the path already ran through both ends
            score, base = torch.cat(ends).unbind(1) if ends else (x.new_zeros(0),) * 2
        else:
            score, base = self._end_scores(clf, x, baseline, target)
        return attributions, None, completeness(attributions, score, base)

    def _baseline(self, x: torch.Tensor) -> torch.Tensor:
        if not isinstance(self.baseline, torch.Tensor):
            return torch.full_like(x, float(self.baseline))
        base = self.baseline.detach().to(device=x.device, dtype=x.dtype)
        if base.shape not in (x.shape[1:], x.shape):
            raise BrittleError(f"baseline must have shape {tuple(x.shape[1:])} or "
                               f"{tuple(x.shape)}, got {tuple(base.shape)}")
        return base.expand_as(x)

    def _end_scores(self, clf: Classifier, x: torch.Tensor, baseline: torch.Tensor,
                    target: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Target logits at the image and at the baseline, in one forward pass per chunk."""
        scores = []
        with torch.no_grad():
            for c in sample_chunks(len(x), 2, self.batch_size):
                both = torch.cat([x[c], baseline[c]])
                scores.append(target_scores(clf(both), target[c].repeat(2)).view(2, -1))
        if not scores:
            return x.new_zeros(0), x.new_zeros(0)
        score, base = torch.cat(scores, 1).unbind(0)
        return score, base


def completeness(attributions: torch.Tensor, score: torch.Tensor,
                 base: torch.Tensor) -> dict[str, torch.Tensor]:
    """The relative completeness gap ``|sum(IG) - (F(x) - F(x'))| / |F(x) - F(x')|`` per sample
    (NaN where ``F(x) = F(x')``), with both scores."""
    expected = score - base
    gap = (attributions.flatten(1).sum(1) - expected).abs()
    relative = torch.where(expected != 0, gap / expected.abs(), torch.nan)
    return {"completeness_gap": relative, "score": score, "baseline_score": base}
