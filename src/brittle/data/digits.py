"""``digits``: scikit-learn's embedded 8x8 handwritten digits, the offline default dataset."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from brittle.data.base import ImageDataset
from brittle.data.files import RemoteFile
from brittle.data.registry import DATASETS, DatasetSource

#: Size the 8x8 digits are upsampled to, so models built for MNIST run on them unchanged.
SIZE = 28
TEST_SIZE = 0.25
SPLIT_SEED = 0


class Digits(DatasetSource):
    """Handwritten digits 0-9 from scikit-learn (1797 images), upsampled to 28x28; no download.

    The images ship inside scikit-learn (``sklearn.datasets.load_digits``): 8x8 pixels with
    integer values 0..16, from the UCI "Optical Recognition of Handwritten Digits" set. brittle
    scales them to [0, 1] (divide by 16) and upsamples them to 28x28 with
    ``torch.nn.functional.interpolate(mode="bilinear", align_corners=False, antialias=False)``,
    stored as float32 ``(N, 1, 28, 28)``. Bilinear weights are convex, so values stay in [0, 1].

    The split is fixed and stratified: ``train_test_split(test_size=0.25, stratify=y,
    random_state=0)`` over the 1797 indices, giving 1347 train and 450 test images; each split
    keeps the original order. ``mean``/``std`` are the pixel statistics of that train split
    after upsampling (population std), hard-coded and checked by the tests.

    Example:
        >>> ds = Digits().load("test")
        >>> ds.images.shape, ds.images.dtype, len(Digits().load("train"))
        (torch.Size([450, 1, 28, 28]), torch.float32, 1347)
    """

    name = "digits"
    description = "scikit-learn 8x8 digits upsampled to 28x28 (embedded, offline)"
    input_shape = (1, SIZE, SIZE)
    class_names = tuple(str(i) for i in range(10))
    mean = (0.3052,)
    std = (0.3246,)

    def files(self, split: str, **options: Any) -> list[RemoteFile]:
        return []

    def read(self, split: str, paths: Mapping[str, Path], **options: Any) -> ImageDataset:
        from sklearn import __version__ as sklearn_version
        from sklearn.datasets import load_digits

        bunch = load_digits()
        images = torch.from_numpy(np.asarray(bunch.images, dtype=np.float32) / 16.0)
        upsampled = F.interpolate(images.unsqueeze(1), size=(SIZE, SIZE), mode="bilinear",
                                  align_corners=False, antialias=False)
        labels = np.asarray(bunch.target, dtype=np.int64)
        idx = torch.from_numpy(split_indices(labels)[split])
        meta = {"origin": "sklearn.datasets.load_digits", "sklearn": sklearn_version,
                "upsampling": "bilinear, align_corners=False, antialias=False"}
        return ImageDataset(upsampled[idx].clamp_(0.0, 1.0).contiguous(),
                            torch.from_numpy(labels)[idx], self.class_names, name=self.name,
                            split=split, meta=meta)


def split_indices(labels: np.ndarray) -> dict[str, np.ndarray]:
    """The fixed stratified ``{"train": idx, "test": idx}`` split, each sorted.

    Example:
        >>> {k: len(v) for k, v in split_indices(np.repeat(np.arange(2), 4)).items()}
        {'train': 6, 'test': 2}
    """
    from sklearn.model_selection import train_test_split

    train, test = train_test_split(np.arange(len(labels)), test_size=TEST_SIZE, stratify=labels,
                                   random_state=SPLIT_SEED)
    return {"train": np.sort(train), "test": np.sort(test)}


DATASETS.register("digits")(Digits)
