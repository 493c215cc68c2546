"""Root-cause statistics for one confusion: where the model looks, and what the border holds.

For images of class ``a`` predicted as ``b`` (errors) against images of ``a`` predicted as ``a``
(correct), this module measures how much attribution falls on the image border versus the
centre and what colour the border is, and tests each difference with a Mann-Whitney U test, so
that a claim such as "the blue background pulls birds towards airplane" comes with numbers.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from brittle.errors import BrittleError
from brittle.explain.base import EXPLAINERS, validated_images
from brittle.explain.functional import (
    border_mask,
    border_share,
    circular_mean_hue,
    default_band,
    pixel_map,
    rgb_to_hsv,
)
from brittle.models.classifier import Classifier


@dataclass
class PairDiagnosis:
    """Errors ``a -> b`` against correct predictions of ``a``.

    Attributes:
        true_class, predicted_class: ``a`` and ``b``.
        class_names: Names of ``a`` and ``b``.
        n_errors, n_correct: Images in each group (after ``max_per_group``).
        band: Border band width in pixels (see :func:`~brittle.explain.functional.border_mask`).
        border_area_share: Share of the image's pixels in the band (the border share of a
            uniform map).
        mean_maps: Method to ``{"errors": (H, W), "correct": (H, W)}``: the class average of
            each image's ``|map|`` summed over channels and scaled to total 1 (an attribution
            density). Errors are explained for ``b``, correct images for ``a``.
        border_share: Method to group statistics and test of the per-image border share.
        background: Statistic name to group statistics and test: ``hue`` (degrees, circular mean
            weighted by saturation), ``saturation`` and ``value`` of the border pixels for RGB,
            ``intensity`` for grayscale.
        mean_images: ``{"errors": (C, H, W), "correct": (C, H, W)}``, the average image of each
            group (zeros for an empty group), for figures.
    """

    true_class: int
    predicted_class: int
    class_names: tuple[str, str]
    n_errors: int
    n_correct: int
    band: int
    border_area_share: float
    mean_maps: dict[str, dict[str, torch.Tensor]]
    border_share: dict[str, dict[str, Any]]
    background: dict[str, dict[str, Any]]
    mean_images: dict[str, torch.Tensor]

    def to_dict(self) -> dict[str, Any]:
        """JSON-able numbers (no maps or images)."""
        return {"true_class": self.true_class, "predicted_class": self.predicted_class,
                "true_name": self.class_names[0], "predicted_name": self.class_names[1],
                "n_errors": self.n_errors, "n_correct": self.n_correct,
                "explained": {"errors": "predicted class", "correct": "true class"},
                "band": self.band, "border_area_share": self.border_area_share,
                "border_share": self.border_share, "background": self.background,
                "test": "two-sided Mann-Whitney U, errors vs correct; effect size = rank-biserial "
                        "correlation 2U/(n1 n2) - 1 (positive: errors larger)"}

    def figure(self, path: str | Path) -> Path:
        """Write :func:`brittle.explain.figures.rootcause_figure` to ``path`` (PNG)."""
        from brittle.explain.figures import rootcause_figure

        return rootcause_figure(self, path)


def diagnose_pair(classifier: Classifier, x: torch.Tensor, y: torch.Tensor, *, true_class: int,
                  predicted_class: int, predictions: torch.Tensor | None = None,
                  methods: Sequence[str] = ("saliency", "gradcam"), band: int | None = None,
                  max_per_group: int = 256, seed: int = 0, batch_size: int = 256,
                  ) -> PairDiagnosis:
    """Compare images of ``true_class`` misread as ``predicted_class`` with correctly read ones.

    Args:
        classifier: The classifier.
        x: Images ``(N, C, H, W)``.
        y: True labels ``(N,)``.
        true_class: ``a``.
        predicted_class: ``b`` (``!= a``).
        predictions: Predicted classes ``(N,)`` if already computed (saves a forward pass).
        methods: Registered explainers whose border share is measured.
        band: Border band width (default ``max(1, min(H, W) // 8)``).
        max_per_group: At most this many images per group (a seeded random subset).
        seed: Seed of that subset.
        batch_size: Most images in one forward/backward pass.

    Returns:
        A :class:`PairDiagnosis`; ``.to_dict()`` is what the audit embeds.

    Example:
        >>> from brittle.models import build_classifier
        >>> clf = build_classifier("lenet5", input_shape=(1, 28, 28), num_classes=10)
        >>> x, y = torch.rand(32, 1, 28, 28), torch.zeros(32, dtype=torch.int64)
        >>> pred = torch.arange(32) % 2  # as if half of these zeros were read as ones
        >>> d = diagnose_pair(clf, x, y, true_class=0, predicted_class=1, predictions=pred)
        >>> d.n_errors, d.n_correct, d.band, sorted(d.background)
        (16, 16, 3, ['intensity'])
    """
    x = validated_images(classifier, x).cpu()
    y = torch.as_tensor(y).cpu()
    k = classifier.num_classes
    if not (0 <= true_class < k and 0 <= predicted_class < k) or true_class == predicted_class:
        raise BrittleError(f"need two different classes in [0, {k - 1}], got {true_class} and "
                           f"{predicted_class}")
    if predictions is None:
        predictions = classifier.predict_logits(x, batch_size=batch_size).argmax(1)
    predictions = predictions.cpu()
    gen = torch.Generator().manual_seed(seed)
    groups = {"errors": _pick((y == true_class) & (predictions == predicted_class),
                              max_per_group, gen),
              "correct": _pick((y == true_class) & (predictions == true_class), max_per_group,
                               gen)}
    explained = {"errors": predicted_class, "correct": true_class}
    h, w = x.shape[2:]
    band = default_band(h, w) if band is None else band
    mask = border_mask(h, w, band)
    mean_maps: dict[str, dict[str, torch.Tensor]] = {}
    shares: dict[str, dict[str, Any]] = {}
    for method in methods:
        explainer = EXPLAINERS.create(method, batch_size=batch_size)
        per_group = {}
        mean_maps[method] = {}
        for group, idx in groups.items():
            maps = (explainer(classifier, x[idx], explained[group]).maps.cpu() if len(idx)
                    else torch.zeros(0, 1, h, w))
            per_group[group] = border_share(maps, mask)
            mean_maps[method][group] = _density(maps, (h, w))
        shares[method] = compare_groups(per_group["errors"], per_group["correct"])
    background = {name: compare_groups(stat[groups["errors"]], stat[groups["correct"]])
                  for name, stat in border_colour(x, mask).items()}
    names = classifier.class_names
    return PairDiagnosis(true_class, predicted_class, (names[true_class], names[predicted_class]),
                         len(groups["errors"]), len(groups["correct"]), band,
                         float(mask.float().mean()), mean_maps, shares, background,
                         {g: x[idx].mean(0) if len(idx) else torch.zeros(x.shape[1:])
                          for g, idx in groups.items()})


def confused_pairs(y: torch.Tensor, predictions: torch.Tensor, *, top: int = 5,
                   min_count: int = 1) -> list[tuple[int, int, int]]:
    """The most frequent confusions ``(true, predicted, count)``, most frequent first.

    Example:
        >>> confused_pairs(torch.tensor([0, 0, 1, 2]), torch.tensor([1, 1, 1, 0]))
        [(0, 1, 2), (2, 0, 1)]
    """
    wrong = y != predictions
    pairs, counts = torch.unique(torch.stack([y[wrong], predictions[wrong]], 1), dim=0,
                                 return_counts=True)
    order = sorted(range(len(counts)), key=lambda i: (-int(counts[i]), pairs[i].tolist()))
    return [(int(pairs[i, 0]), int(pairs[i, 1]), int(counts[i])) for i in order
            if counts[i] >= min_count][:top]


def border_colour(x: torch.Tensor, mask: torch.Tensor) -> dict[str, torch.Tensor]:
    """Per-image colour statistics of the border pixels, each ``(N,)``.

    RGB: ``hue`` (degrees, saturation-weighted circular mean), ``saturation`` and ``value``
    (means); grayscale: ``intensity`` (mean). Other channel counts: mean of all channels.
    """
    border = x[:, :, mask]  # (N, C, P)
    if x.shape[1] != 3:
        return {"intensity": border.mean(dim=(1, 2))}
    hsv = rgb_to_hsv(border[..., None]).squeeze(-1)
    hue = 360 * circular_mean_hue(hsv[:, 0], hsv[:, 1])
    return {"hue": hue, "saturation": hsv[:, 1].mean(1), "value": hsv[:, 2].mean(1)}


def compare_groups(errors: torch.Tensor, correct: torch.Tensor) -> dict[str, Any]:
    """Summary of both groups and a two-sided Mann-Whitney U test with its effect size.

    The effect size is the rank-biserial correlation ``2U/(n1 n2) - 1`` in [-1, 1] (positive:
    errors tend to be larger). NaN values are dropped. The test is ``None`` when a group is
    empty.
    """
    from scipy.stats import mannwhitneyu

    e = errors[~torch.isnan(errors)].double().numpy()
    c = correct[~torch.isnan(correct)].double().numpy()
    out: dict[str, Any] = {"errors": _stats(e), "correct": _stats(c), "test": None}
    if len(e) and len(c):
        res = mannwhitneyu(e, c, alternative="two-sided")
        u = float(res.statistic)
        out["test"] = {"u": u, "p_value": float(res.pvalue),
                       "effect_size": 2 * u / (len(e) * len(c)) - 1}
    return out


def _stats(values: Any) -> dict[str, Any]:
    if not len(values):
        return {"n": 0, "mean": math.nan, "median": math.nan, "std": math.nan}
    t = torch.as_tensor(values)
    return {"n": len(values), "mean": float(t.mean()), "median": float(t.median()),
            "std": float(t.std()) if len(values) > 1 else 0.0}


def _pick(selected: torch.Tensor, limit: int, gen: torch.Generator) -> torch.Tensor:
    idx = torch.nonzero(selected).flatten()
    if len(idx) > limit:
        idx = idx[torch.randperm(len(idx), generator=gen)[:limit]].sort().values
    return idx


def _density(maps: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    if not len(maps):
        return torch.zeros(size)
    mass = pixel_map(maps)
    total = mass.flatten(1).sum(1)[:, None, None]
    return torch.where(total > 0, mass / total.clamp_min(1e-30), 0.0).mean(0)
