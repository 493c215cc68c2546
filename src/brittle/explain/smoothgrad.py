"""SmoothGrad: saliency averaged over noisy copies of the input (Smilkov et al. 2017)."""

from __future__ import annotations

import math

import torch

from brittle.errors import BrittleError
from brittle.explain.base import EXPLAINERS, Explainer, sample_chunks
from brittle.explain.functional import target_gradients
from brittle.models.classifier import Classifier


@EXPLAINERS.register("smoothgrad")
class SmoothGrad(Explainer):
    """Mean input gradient over ``samples`` copies of the image with Gaussian noise added.

    "SmoothGrad: removing noise by adding noise" (Smilkov et al. 2017). The noise standard
    deviation is ``noise`` times the input range (the paper's 10-20% works best; 0.15 here).
    Noisy copies are not clipped to the bounds, as in the paper. Sample ``i`` of a call draws its
    noise from a generator seeded with ``seed + i``, so results repeat exactly and do not depend
    on ``batch_size``.

    Args:
        samples: Noisy copies per image (``n`` in the paper).
        noise: Noise standard deviation as a fraction of ``bounds[1] - bounds[0]``.
        seed: Seed of the noise.
        batch_size: Most noisy images in one forward/backward pass.

    Example:
        >>> import torch
        >>> from brittle.models import build_classifier
        >>> clf = build_classifier("lenet5", input_shape=(1, 28, 28), num_classes=10)
        >>> SmoothGrad(samples=4)(clf, torch.rand(2, 1, 28, 28)).maps.shape
        torch.Size([2, 1, 28, 28])
    """

    name = "smoothgrad"

    def __init__(self, *, samples: int = 50, noise: float = 0.15, seed: int = 0,
                 batch_size: int = 256) -> None:
        super().__init__(batch_size=batch_size)
        if not (isinstance(samples, int) and samples >= 1):
            raise BrittleError(f"samples must be an integer >= 1, got {samples!r}")
        if not (math.isfinite(noise) and noise >= 0):
            raise BrittleError(f"noise must be a finite fraction >= 0, got {noise!r}")
        self.samples = samples
        self.noise = float(noise)
        self.seed = seed

    def _explain(self, clf: Classifier, x: torch.Tensor, target: torch.Tensor,
                 ) -> tuple[torch.Tensor, None, dict[str, torch.Tensor]]:
        std = self.noise * (clf.bounds[1] - clf.bounds[0])
        maps = []
        for chunk in sample_chunks(len(x), self.samples, self.batch_size):
            noisy = torch.cat([x[i] + std * self._noise(i, x[i]) for i in
                               range(chunk.start, chunk.stop)])
            tgt = target[chunk].repeat_interleave(self.samples)
            grads = target_gradients(clf, noisy, tgt, batch_size=self.batch_size)
            maps.append(grads.unflatten(0, (-1, self.samples)).mean(1))
        return torch.cat(maps) if maps else torch.zeros_like(x), None, {}

    def _noise(self, index: int, image: torch.Tensor) -> torch.Tensor:
        gen = torch.Generator().manual_seed(self.seed + index)
        noise = torch.randn((self.samples, *image.shape), generator=gen, dtype=image.dtype)
        return noise.to(image.device)
