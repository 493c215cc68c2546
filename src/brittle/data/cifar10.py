"""``cifar10``: CIFAR-10 from the official *binary* version (``cifar-10-batches-bin``).

The binary version is plain records, so nothing is ever unpickled (the "python version" of
CIFAR-10 is pickles and is never read here). Each ``.bin`` file holds 10,000 records of 3,073
bytes: one label byte (0-9), then 1,024 red, 1,024 green and 1,024 blue bytes, each plane a
row-major 32x32 image.

Checksums: the authors publish only the md5 of the archive ``cifar-10-binary.tar.gz``. The
sha256 of ``test_batch.bin``, ``data_batch_1.bin``, ``data_batch_2.bin`` and
``batches.meta.txt`` are known (``../shared/data/SHA256SUMS``); ``data_batch_3..5.bin`` have
none, so they are only ever taken from a verified archive (see :mod:`brittle.data.archive`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch

from brittle.data.base import ImageDataset
from brittle.data.files import RemoteArchive, RemoteFile
from brittle.data.registry import DATASETS, DatasetSource
from brittle.errors import DataError

#: The official archive and its published md5.
ARCHIVE = RemoteArchive(
    relpath="cifar10/cifar-10-binary.tar.gz",
    url="https://www.cs.toronto.edu/~kriz/cifar-10-binary.tar.gz",
    md5="c32a1d4ab5d03f1284b67883e8d87530",
)
FOLDER = "cifar10/cifar-10-batches-bin"
RECORD_BYTES = 1 + 3 * 32 * 32
BATCH_RECORDS = 10_000
META_FILE = "batches.meta.txt"
SHA256 = {
    "test_batch.bin": "8e2eb146ae340b09e24670f29cabc6326dba54da8789dab6768acf480273f65b",
    "data_batch_1.bin": "cee916563c9f80d84e3cc88e17fdc0941787f1244f00a67874d45b261883ada5",
    "data_batch_2.bin": "a591ca11fa1708a91ee40f54b3da4784ccd871ecf2137de63f51ada8b3fa57ed",
    META_FILE: "558e74b5e208382e186da55784b4bac2cd52e558448e1b5800990fdb28ed8033",
}
ALL_BATCHES = (1, 2, 3, 4, 5)


def read_batch(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """Decode one binary batch into images ``(N, 3, 32, 32)`` uint8 and labels ``(N,)``.

    Example:
        >>> x, y = read_batch(Path("test_batch.bin"))  # doctest: +SKIP
        >>> x.shape, y[:3].tolist()  # doctest: +SKIP
        ((10000, 3, 32, 32), [3, 8, 8])
    """
    raw = np.fromfile(path, dtype=np.uint8)
    if raw.size == 0 or raw.size % RECORD_BYTES:
        raise DataError(f"{path}: {raw.size} bytes is not a whole number of {RECORD_BYTES}-byte "
                        f"CIFAR-10 records")
    records = raw.reshape(-1, RECORD_BYTES)
    labels = records[:, 0]
    if labels.max() > 9:
        raise DataError(f"{path}: label byte {labels.max()} out of range 0-9")
    return records[:, 1:].reshape(-1, 3, 32, 32), labels


class CIFAR10(DatasetSource):
    """CIFAR-10 32x32 RGB photographs, 10 classes (50k train in 5 batches, 10k test).

    Option ``batches`` (train split only) picks training batches out of 1-5, default all
    five; a partial copy such as ``../shared/data`` (batches 1 and 2) loads with
    ``batches=(1, 2)``. ``meta["batches"]`` records the batches loaded. Images are kept as
    uint8 ``(N, 3, 32, 32)``.

    Args:
        archive: The archive record to fetch missing files from. The default is the official
            one with its published md5; tests pass a record for an archive they rebuilt.

    Example:
        >>> ds = CIFAR10().load("train", batches=(1, 2))  # doctest: +SKIP
        >>> len(ds), ds.meta["batches"]  # doctest: +SKIP
        (20000, [1, 2])
    """

    name = "cifar10"
    description = "CIFAR-10 32x32 RGB photographs, 10 classes (50k train, 10k test)"
    input_shape = (3, 32, 32)
    class_names = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse",
                   "ship", "truck")
    mean = (0.4914, 0.4822, 0.4465)
    std = (0.2470, 0.2435, 0.2616)
    options = frozenset({"batches"})

    def __init__(self, *, archive: RemoteArchive = ARCHIVE) -> None:
        self.archive = archive

    def files(self, split: str, **options: Any) -> list[RemoteFile]:
        names = [f"data_batch_{b}.bin" for b in self._batches(split, options.get("batches"))]
        if split == "test":
            names = ["test_batch.bin"]
        return [self._file(n) for n in [*names, META_FILE]]

    def read(self, split: str, paths: Mapping[str, Path], **options: Any) -> ImageDataset:
        files = self.files(split, **options)
        self._check_meta(paths[files[-1].relpath])
        parts = [read_batch(paths[f.relpath]) for f in files[:-1]]
        images = np.concatenate([x for x, _ in parts])
        labels = np.concatenate([y for _, y in parts]).astype(np.int64)
        meta: dict[str, object] = {}
        if split == "train":
            meta["batches"] = list(self._batches(split, options.get("batches")))
        return ImageDataset(torch.from_numpy(images), torch.from_numpy(labels), self.class_names,
                            name=self.name, split=split, meta=meta)

    def _file(self, name: str) -> RemoteFile:
        size = None if name == META_FILE else BATCH_RECORDS * RECORD_BYTES
        return RemoteFile(f"{FOLDER}/{name}", None, sha256=SHA256.get(name), size=size,
                          archive=self.archive)

    def _batches(self, split: str, batches: Iterable[int] | int | None) -> tuple[int, ...]:
        if batches is None:
            return ALL_BATCHES if split == "train" else ()
        if split != "train":
            raise DataError(f"cifar10: option batches applies to the train split only, "
                            f"not {split!r}")
        chosen = (batches,) if isinstance(batches, int) else tuple(batches)
        if not chosen or len(set(chosen)) != len(chosen) or not set(chosen) <= set(ALL_BATCHES):
            raise DataError(f"cifar10: batches must be distinct numbers from 1-5, got {chosen}")
        return tuple(sorted(chosen))

    def _check_meta(self, path: Path) -> None:
        names = tuple(line for line in path.read_text(encoding="ascii").splitlines() if line)
        if names != self.class_names:
            raise DataError(f"{path}: class names {names} differ from {self.class_names}")


DATASETS.register("cifar10")(CIFAR10)
