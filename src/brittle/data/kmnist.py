"""``kmnist``: Kuzushiji-MNIST, cursive Japanese hiragana, from the official ``.npz`` files."""

from __future__ import annotations

import zipfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch

from brittle.data.base import ImageDataset
from brittle.data.files import RemoteFile
from brittle.data.registry import DATASETS, DatasetSource
from brittle.errors import DataError

BASE_URL = "http://codh.rois.ac.jp/kmnist/dataset/kmnist/"

# Test files: sha256 of the official files (../shared/data/SHA256SUMS). Train files: no
# published sha256, so the official md5 and size, as recorded by the git-annex keys of
# datasets-mila/datasets--kmnist (whose web log points at BASE_URL) and, independently, in
# another project's checksum table.
_FILES: dict[str, dict[str, Any]] = {
    "kmnist-test-imgs.npz": {
        "sha256": "692d824896bec8f3c357ebf7a0fe904ed67ac632ce953d0b58f7fbef7bb27d87",
        "size": 3079479},
    "kmnist-test-labels.npz": {
        "sha256": "660f13a4705431ea2a6391c41ecbe384cd0d932c595a101ec4f3b8989e785046",
        "size": 5304},
    "kmnist-train-imgs.npz": {"md5": "a183fbc01ed9a345513b145673d3d0bb", "size": 18384171},
    "kmnist-train-labels.npz": {"md5": "b0e1d240e8afec72b50437fc3bc5908a", "size": 29700},
}


def read_npz_array(path: Path) -> np.ndarray:
    """The single uint8 array ``arr_0`` of an ``.npz`` file, read without unpickling.

    Example:
        >>> read_npz_array(Path("kmnist-test-labels.npz")).shape  # doctest: +SKIP
        (10000,)
    """
    try:
        with np.load(path, allow_pickle=False) as archive:
            array = np.asarray(archive["arr_0"])
    except (OSError, ValueError, KeyError, zipfile.BadZipFile) as exc:
        raise DataError(f"{path} is not a readable .npz with an array arr_0: {exc}") from None
    if array.dtype != np.uint8:
        raise DataError(f"{path}: arr_0 has dtype {array.dtype}, expected uint8")
    return array


class KMNIST(DatasetSource):
    """Kuzushiji-MNIST cursive hiragana, 28x28 grayscale (60k train, 10k test).

    Classes, romanized: o, ki, su, tsu, na, ha, ma, ya, re, wo (お き す つ な は ま や れ を).
    Images are kept as uint8 ``(N, 1, 28, 28)``. ``mean``/``std`` are the commonly used
    training-set values. Files are the official ``.npz`` (CC BY-SA 4.0, "KMNIST Dataset" by
    CODH, adapted from "Kuzushiji Dataset" by NIJL and others, doi:10.20676/00000341).

    Example:
        >>> ds = KMNIST().load("test")  # doctest: +SKIP
        >>> ds.class_counts().tolist()  # doctest: +SKIP
        [1000, 1000, 1000, 1000, 1000, 1000, 1000, 1000, 1000, 1000]
    """

    name = "kmnist"
    description = "Kuzushiji-MNIST cursive hiragana, 28x28 grayscale (60k train, 10k test)"
    input_shape = (1, 28, 28)
    class_names = ("o", "ki", "su", "tsu", "na", "ha", "ma", "ya", "re", "wo")
    mean = (0.1918,)
    std = (0.3483,)

    def files(self, split: str, **options: Any) -> list[RemoteFile]:
        names = [f"kmnist-{split}-{kind}.npz" for kind in ("imgs", "labels")]
        return [RemoteFile(f"kmnist/{n}", BASE_URL + n, **_FILES[n]) for n in names]

    def read(self, split: str, paths: Mapping[str, Path], **options: Any) -> ImageDataset:
        image_file, label_file = (paths[f.relpath] for f in self.files(split))
        images, labels = read_npz_array(image_file), read_npz_array(label_file)
        if images.ndim != 3 or images.shape[1:] != (28, 28):
            raise DataError(f"{image_file}: images of shape {images.shape}, expected (N, 28, 28)")
        if labels.shape != (len(images),):
            raise DataError(f"{label_file}: labels of shape {labels.shape}, expected "
                            f"({len(images)},)")
        return ImageDataset(torch.from_numpy(images.copy()).unsqueeze(1),
                            torch.from_numpy(labels.astype(np.int64)), self.class_names,
                            name=self.name, split=split)


DATASETS.register("kmnist")(KMNIST)
