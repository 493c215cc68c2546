"""Model-randomization sanity check for saliency methods (Adebayo et al. 2018)."""

from __future__ import annotations

import copy
import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

import torch
from torch import nn

from brittle._utils.progress import progress
from brittle.errors import BrittleError
from brittle.explain.base import EXPLAINERS, Explainer, resolve_target, validated_images
from brittle.explain.functional import minmax, pixel_map, spearman, ssim
from brittle.models.classifier import Classifier

DEFAULT_THRESHOLD = 0.5


@dataclass
class MethodSanity:
    """How one explainer's maps change as the model is randomized from the top layer down.

    Step ``i`` has the layers ``layers[: i + 1]`` randomized (``layers[0]`` is the logits layer).
    Each similarity is the mean over samples between the maps of the trained model and those of
    the randomized one.

    Attributes:
        method: The explainer's name.
        layers: Module paths in the order they were randomized.
        spearman_raw: Spearman rank correlation of the signed maps, per step.
        spearman_abs: Spearman rank correlation of the absolute maps, per step.
        ssim: SSIM of the maps (``|maps|`` summed over channels, min-max scaled to [0, 1]).
        final_spearman_abs: ``spearman_abs`` once every layer is randomized.
        passed: ``final_spearman_abs < threshold``: the maps depend on the weights.
    """

    method: str
    layers: list[str]
    spearman_raw: list[float]
    spearman_abs: list[float]
    ssim: list[float]
    final_spearman_abs: float
    passed: bool

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class SanityResult:
    """Result of :func:`sanity_check`: one :class:`MethodSanity` per explainer.

    Attributes:
        methods: Explainer name to its curves and verdict.
        threshold: The pass threshold on the final mean absolute-map Spearman correlation.
        n: Number of images.
        seed: Seed of the randomized weights.
    """

    methods: dict[str, MethodSanity]
    threshold: float
    n: int
    seed: int

    @property
    def passed(self) -> dict[str, bool]:
        return {name: m.passed for name, m in self.methods.items()}

    def to_dict(self) -> dict[str, Any]:
        return {"criterion": f"mean Spearman rank correlation of absolute maps after full "
                             f"randomization < {self.threshold}",
                "threshold": self.threshold, "n": self.n, "seed": self.seed,
                "passed": self.passed,
                "methods": {name: m.to_dict() for name, m in self.methods.items()}}


def sanity_check(classifier: Classifier, x: torch.Tensor, target: torch.Tensor | int | None = None,
                 *, methods: Sequence[str | Explainer] = ("saliency", "gradcam"), seed: int = 0,
                 threshold: float = DEFAULT_THRESHOLD, progress_bar: bool | None = False,
                 ) -> SanityResult:
    """Cascading model-parameter randomization test of Adebayo et al. (2018).

    "Sanity Checks for Saliency Maps" (Adebayo et al. 2018): an explanation that does not
    change when the model's weights are destroyed cannot explain the model. On a deep copy (the
    user's model is never touched), every module that owns parameters is randomized in turn,
    from the logits layer down; after each step the maps are recomputed for the same targets
    and compared with the trained model's maps (Spearman rank correlation of signed and of
    absolute maps, and SSIM). Each randomized tensor is redrawn i.i.d. from
    ``N(0, rms(original)^2)`` so activations keep their scale instead of vanishing.

    A method passes when the mean Spearman correlation of its absolute maps, once every layer is
    randomized, is below ``threshold`` (0.5: most of the ranking is gone; gradient saliency of
    a trained MNIST LeNet falls to about 0.2, an input-only edge detector stays at 1.0).

    Args:
        classifier: The trained classifier (left unchanged).
        x: Images ``(N, C, H, W)`` in bounds.
        target: Classes to explain ``(N,)`` (default: the trained model's predictions); the
            same targets are used for every randomized model.
        methods: Registered explainer names or explainer instances.
        seed: Seed of the random weights.
        threshold: Pass threshold (see above).
        progress_bar: Show a progress bar over the layers (``None``: on a terminal).

    Returns:
        A :class:`SanityResult`.

    Example:
        >>> from brittle.models import build_classifier
        >>> clf = build_classifier("lenet5", input_shape=(1, 28, 28), num_classes=10)
        >>> result = sanity_check(clf, torch.rand(4, 1, 28, 28), methods=["saliency"])
        >>> result.methods["saliency"].layers[0]
        'fc3'
    """
    if not isinstance(classifier, Classifier):
        raise BrittleError("sanity_check needs a brittle Classifier")
    explainers = [EXPLAINERS.create(m) if isinstance(m, str) else m for m in methods]
    if not explainers:
        raise BrittleError("sanity_check needs at least one method")
    names = [e.name for e in explainers]
    if len(set(names)) != len(names):
        raise BrittleError(f"methods must have distinct names, got {names}")
    x = validated_images(classifier, x)
    with classifier.evaluating():
        tgt = resolve_target(classifier, x, target)
    originals = [e(classifier, x, tgt).maps for e in explainers]
    model = copy.deepcopy(classifier)
    layers = randomization_order(model)
    gen = torch.Generator().manual_seed(seed)
    curves: dict[str, dict[str, list[float]]] = {n: {"raw": [], "abs": [], "ssim": []}
                                                 for n in names}
    for _path, module in progress(layers, enabled=progress_bar, desc="randomizing"):
        randomize_(module, gen)
        for explainer, original in zip(explainers, originals, strict=True):
            randomized = explainer(model, x, tgt).maps
            for key, value in similarities(original, randomized).items():
                curves[explainer.name][key].append(value)
    results = {}
    for name in names:
        final = curves[name]["abs"][-1] if layers else math.nan
        results[name] = MethodSanity(name, [p for p, _ in layers], curves[name]["raw"],
                                     curves[name]["abs"], curves[name]["ssim"], final,
                                     bool(final < threshold))
    return SanityResult(results, threshold, len(x), seed)


def randomization_order(classifier: Classifier) -> list[tuple[str, nn.Module]]:
    """Modules that own parameters, from the output layer down (reverse definition order)."""
    owners = [(path, module) for path, module in classifier.model.named_modules()
              if any(True for _ in module.parameters(recurse=False))]
    return owners[::-1]


@torch.no_grad()
def randomize_(module: nn.Module, generator: torch.Generator) -> None:
    """Redraw each of ``module``'s own parameters from ``N(0, rms^2)``, in place."""
    for param in module.parameters(recurse=False):
        rms = param.detach().float().pow(2).mean().sqrt()
        noise = torch.randn(param.shape, generator=generator, dtype=torch.float32)
        param.copy_((noise * rms.cpu()).to(param.dtype))


def similarities(original: torch.Tensor, randomized: torch.Tensor) -> dict[str, float]:
    """Mean Spearman correlation (signed and absolute maps) and SSIM between two map batches."""
    a, b = original.detach().cpu(), randomized.detach().cpu()
    return {"raw": float(spearman(a, b).mean()),
            "abs": float(spearman(a.abs(), b.abs()).mean()),
            "ssim": float(ssim(minmax(pixel_map(a)), minmax(pixel_map(b))).mean())}
