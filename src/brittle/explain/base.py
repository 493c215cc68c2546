"""The explainer base class and the :class:`Explanation` it returns.

``Explainer.__call__`` is final. It validates the inputs once, switches to eval mode (restoring
the user's modes afterwards), freezes the parameters so no weight gradient is ever computed,
resolves the target class (the predicted one by default) and lets the method compute its maps.
Inputs are never mutated; maps come back raw (no normalization: that is for display only).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Any, final

import torch
from torch import nn

from brittle.attacks.base import frozen
from brittle.errors import BrittleError
from brittle.models.classifier import Classifier, as_classifier
from brittle.registry import Registry


@dataclass
class Explanation:
    """Raw attribution maps for one batch.

    Attributes:
        maps: ``(N, C, H, W)`` for gradient methods, ``(N, 1, H, W)`` for class activation maps
            (upsampled to the input size). Raw values, never normalized.
        method: The explainer's registry name.
        target: ``(N,)`` int64, the class each map explains.
        cam: For CAM methods, the map at the layer's own resolution ``(N, 1, h, w)``.
        info: Per-sample extras ``(N,)`` (e.g. ``completeness_gap`` of Integrated Gradients).
        params: The explainer's settings.
    """

    maps: torch.Tensor
    method: str
    target: torch.Tensor
    cam: torch.Tensor | None = None
    info: dict[str, torch.Tensor] = field(default_factory=dict)
    params: dict[str, Any] = field(default_factory=dict)

    def positive(self) -> torch.Tensor:
        """The positive part ``max(maps, 0)`` (evidence for the target)."""
        return self.maps.clamp_min(0)

    def negative(self) -> torch.Tensor:
        """The negative part ``min(maps, 0)`` (evidence against); ``positive() + negative()``
        is ``maps``."""
        return self.maps.clamp_max(0)

    def pixel_map(self) -> torch.Tensor:
        """``|maps|`` summed over channels, ``(N, H, W)``."""
        return self.maps.abs().sum(1)

    def __len__(self) -> int:
        return int(self.maps.shape[0])

    def summary(self) -> dict[str, Any]:
        """JSON-able per-sample numbers (no maps): target, min, max, total absolute mass, info."""
        flat = self.maps.detach().flatten(1).cpu()
        return {"method": self.method, "params": self.params,
                "target": self.target.cpu().tolist(),
                "min": flat.min(1).values.tolist(), "max": flat.max(1).values.tolist(),
                "abs_sum": flat.abs().sum(1).tolist(),
                "info": {k: v.detach().cpu().tolist() for k, v in self.info.items()}}


class Explainer(ABC):
    """Base class of every explainer.

    Subclasses implement :meth:`_explain` on a validated batch in eval mode with frozen
    parameters, and bound their own peak memory with ``batch_size`` (the most images in one
    forward/backward pass, counting noise samples and integration steps).

    Args:
        batch_size: Most images in one forward/backward pass.
    """

    name: str = "explainer"

    def __init__(self, *, batch_size: int = 256) -> None:
        if not (isinstance(batch_size, int) and batch_size >= 1):
            raise BrittleError(f"batch_size must be an integer >= 1, got {batch_size!r}")
        self.batch_size = batch_size

    def settings(self) -> dict[str, Any]:
        """The explainer's hyperparameters, as recorded in results."""
        return {k: v for k, v in vars(self).items() if not k.startswith("_")}

    @final
    def __call__(self, model: nn.Module, x: torch.Tensor, target: torch.Tensor | int | None = None,
                 **facts: Any) -> Explanation:
        """Explain images ``x`` ``(N, C, H, W)`` for ``target`` ``(N,)`` (one class per sample,
        an int for all, or ``None`` for each sample's predicted class).

        ``model`` is a :class:`Classifier` or a bare module plus ``facts`` (``input_shape``...).
        """
        clf = as_classifier(model, **facts)
        x = validated_images(clf, x)
        with clf.evaluating(), frozen(clf):
            tgt = resolve_target(clf, x, target, batch_size=self.batch_size)
            maps, cam, info = self._explain(clf, x, tgt)
        return Explanation(maps=maps.detach(), method=self.name, target=tgt,
                           cam=None if cam is None else cam.detach(),
                           info={k: v.detach() for k, v in info.items()},
                           params=self.settings())

    @abstractmethod
    def _explain(self, clf: Classifier, x: torch.Tensor, target: torch.Tensor,
                 ) -> tuple[torch.Tensor, torch.Tensor | None, dict[str, torch.Tensor]]:
        """Return ``(maps, cam or None, info)`` for a validated batch."""


EXPLAINERS: Registry[Explainer] = Registry("explainer")


def validated_images(clf: Classifier, x: torch.Tensor) -> torch.Tensor:
    """``x`` detached on the classifier's device, after checking shape, dtype, finiteness and
    bounds (one-line :class:`BrittleError` otherwise)."""
    if not isinstance(x, torch.Tensor):
        raise BrittleError("images must be a torch tensor")
    clf.check_input(x)
    if not torch.isfinite(x).all():
        raise BrittleError("images contain NaN or inf")
    low, high = clf.bounds
    if x.numel() and (x.min() < low or x.max() > high):
        raise BrittleError(f"images must lie in the bounds [{low}, {high}]; got "
                           f"[{float(x.min()):.3g}, {float(x.max()):.3g}]")
    return x.detach().to(clf.device)


def resolve_target(clf: Classifier, x: torch.Tensor, target: torch.Tensor | int | None, *,
                   batch_size: int = 512) -> torch.Tensor:
    """The class to explain per sample, ``(N,)`` int64 on the classifier's device.

    ``None`` takes the predicted class; an int applies to every sample; a tensor must be
    integer ``(N,)`` with classes in ``[0, K)``.

    Example:
        >>> from brittle.models import build_classifier
        >>> clf = build_classifier("mlp", input_shape=(1, 28, 28), num_classes=10)
        >>> resolve_target(clf, torch.rand(3, 1, 28, 28), 4).tolist()
        [4, 4, 4]
    """
    n = len(x)
    if target is None:
        return clf.predict_logits(x, batch_size=batch_size).argmax(1)
    if isinstance(target, int) and not isinstance(target, bool):
        target = torch.full((n,), target, dtype=torch.int64)
    if (not isinstance(target, torch.Tensor) or target.shape != (n,)
            or target.dtype.is_floating_point or target.dtype == torch.bool):
        shape = tuple(target.shape) if isinstance(target, torch.Tensor) else type(target).__name__
        raise BrittleError(f"target must be None, an int or integer (N,) = ({n},), got {shape}")
    if n and (target.min() < 0 or target.max() >= clf.num_classes):
        raise BrittleError(f"target classes must lie in [0, {clf.num_classes - 1}]")
    return target.to(device=clf.device, dtype=torch.int64)


def sample_chunks(n: int, per_sample: int, batch_size: int) -> list[slice]:
    """Slices of samples such that ``samples * per_sample`` stays within ``batch_size`` (at
    least one sample per slice; a sample expanding beyond it is split by the caller)."""
    step = max(1, batch_size // max(1, per_sample))
    return [slice(start, min(n, start + step)) for start in range(0, n, step)]
