"""Target specifications: which class an attack should push each sample towards."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch

from brittle.errors import BrittleError


@dataclass(frozen=True)
class LeastLikely:
    """The ``k``-th least likely class under the clean logits (``k=1``: the least likely)."""

    k: int = 1


@dataclass(frozen=True)
class RandomTarget:
    """A uniformly random class other than the true one, drawn from the attack's seed."""


TargetSpec = (None | int | torch.Tensor | str | LeastLikely | RandomTarget
              | Callable[[torch.Tensor], torch.Tensor])


def parse_target(spec: TargetSpec) -> TargetSpec:
    """Turn CLI-style strings (``least-likely``, ``least-likely:3``, ``random``, ``untargeted``,
    or a class index) into target objects; leave other specs as they are."""
    if not isinstance(spec, str):
        return spec
    name, _, arg = spec.partition(":")
    if name in ("untargeted", "none"):
        return None
    if name == "least-likely":
        return LeastLikely(int(arg) if arg else 1)
    if name == "random":
        return RandomTarget()
    if spec.isdigit():
        return int(spec)
    raise BrittleError(f"unknown target {spec!r}; use untargeted, least-likely[:k], random or a "
                       "class index")


def resolve_target(spec: TargetSpec, clean_logits: torch.Tensor, labels: torch.Tensor, *,
                   generator: torch.Generator) -> torch.Tensor | None:
    """Target labels ``(N,)`` for ``spec``, or ``None`` for an untargeted attack.

    Raises:
        BrittleError: a target out of range, of the wrong length, or equal to the true label.
    """
    spec = parse_target(spec)
    if spec is None:
        return None
    n, k = clean_logits.shape
    if isinstance(spec, LeastLikely):
        if not 1 <= spec.k < k:
            raise BrittleError(f"least-likely k must be in [1, {k - 1}], got {spec.k}")
        target = clean_logits.argsort(dim=1)[:, spec.k - 1]
    elif isinstance(spec, RandomTarget):
        offset = torch.randint(1, k, (n,), generator=generator).to(labels.device)
        target = (labels + offset) % k
    elif isinstance(spec, int):
        target = torch.full_like(labels, spec)
    elif isinstance(spec, torch.Tensor):
        target = spec.to(device=labels.device, dtype=torch.int64)
    elif callable(spec):
        target = torch.as_tensor(spec(clean_logits), device=labels.device).to(torch.int64)
    else:
        raise BrittleError(f"unsupported target specification {spec!r}")
    return _checked(target, labels, k)


def _checked(target: torch.Tensor, labels: torch.Tensor, num_classes: int) -> torch.Tensor:
    if target.shape != labels.shape:
        raise BrittleError(f"target has shape {tuple(target.shape)}, labels {tuple(labels.shape)}")
    if target.numel() and (target.min() < 0 or target.max() >= num_classes):
        raise BrittleError(f"target classes must lie in [0, {num_classes - 1}]")
    clash = int((target == labels).sum())
    if clash:
        raise BrittleError(f"{clash} target(s) equal the true label; a targeted attack needs a "
                           "different class")
    return target
