"""IDX ``.gz`` files (LeCun's format) and the ``mnist`` and ``fashion-mnist`` sources.

After gunzip an IDX file is a big-endian header: two zero bytes, a type byte (``0x08`` for
uint8), the number of dimensions, one uint32 per dimension, then the row-major data.
"""

from __future__ import annotations

import gzip
import struct
import zlib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from brittle.data.base import ImageDataset
from brittle.data.files import RemoteFile
from brittle.data.registry import DATASETS, DatasetSource
from brittle.errors import DataError

IMAGES_MAGIC = 0x00000803  # uint8, 3 dimensions
LABELS_MAGIC = 0x00000801  # uint8, 1 dimension


def read_idx(path: Path, *, magic: int) -> np.ndarray:
    """Read a gzip-compressed IDX file of uint8 data, checking its magic number and size.

    Args:
        path: The ``.gz`` file.
        magic: The expected magic number, :data:`IMAGES_MAGIC` or :data:`LABELS_MAGIC`.

    Returns:
        A uint8 array of the shape in the header, e.g. ``(N, 28, 28)`` or ``(N,)``.

    Raises:
        DataError: The file is not gzip, has another magic number or the wrong length.

    Example:
        >>> read_idx(Path("t10k-labels-idx1-ubyte.gz"), magic=LABELS_MAGIC).shape  # doctest: +SKIP
        (10000,)
    """
    try:
        raw = gzip.decompress(path.read_bytes())
    except (OSError, EOFError, zlib.error) as exc:
        raise DataError(f"{path} is not a readable gzip file: {exc}") from None
    if len(raw) < 4:
        raise DataError(f"{path} is too short to be an IDX file ({len(raw)} bytes)")
    (found,) = struct.unpack(">I", raw[:4])
    if found != magic:
        raise DataError(f"{path}: IDX magic number 0x{found:08x}, expected 0x{magic:08x}")
    ndim = magic & 0xFF
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise DataError(f"{path}: IDX header truncated")
    shape = struct.unpack(f">{ndim}I", raw[4:header])
    expected = int(np.prod(shape, dtype=np.int64))
    if len(raw) - header != expected:
        raise DataError(f"{path}: IDX header says {shape} = {expected} bytes of data, "
                        f"file has {len(raw) - header}")
    return np.frombuffer(raw, dtype=np.uint8, offset=header).reshape(shape)


@dataclass(frozen=True)
class _IdxInfo:
    name: str
    description: str
    folder: str
    base_url: str
    sha256: Mapping[str, str]
    class_names: tuple[str, ...]
    mean: float
    std: float


class IdxSource(DatasetSource):
    """A 28x28 grayscale dataset stored as four IDX ``.gz`` files (MNIST layout).

    Images are kept as uint8 ``(N, 1, 28, 28)``; accessors return float32 in [0, 1].

    Example:
        >>> from brittle.data import load
        >>> ds = load("mnist", "test")  # doctest: +SKIP
        >>> ds.images.shape, ds.class_counts()[:3].tolist()  # doctest: +SKIP
        (torch.Size([10000, 1, 28, 28]), [980, 1135, 1032])
    """

    input_shape = (1, 28, 28)

    def __init__(self, info: _IdxInfo) -> None:
        self.info = info
        self.name, self.description = info.name, info.description
        self.class_names = info.class_names
        self.mean, self.std = (info.mean,), (info.std,)

    def files(self, split: str, **options: Any) -> list[RemoteFile]:
        prefix = "train" if split == "train" else "t10k"
        names = (f"{prefix}-images-idx3-ubyte.gz", f"{prefix}-labels-idx1-ubyte.gz")
        return [RemoteFile(f"{self.info.folder}/{n}", self.info.base_url + n,
                           sha256=self.info.sha256[n]) for n in names]

    def read(self, split: str, paths: Mapping[str, Path], **options: Any) -> ImageDataset:
        image_file, label_file = (paths[f.relpath] for f in self.files(split))
        images = read_idx(image_file, magic=IMAGES_MAGIC)
        labels = read_idx(label_file, magic=LABELS_MAGIC)
        if images.shape[1:] != (28, 28):
            raise DataError(f"{image_file}: images are {images.shape[1:]}, expected (28, 28)")
        if len(images) != len(labels):
            raise DataError(f"{self.name} {split}: {len(images)} images but {len(labels)} labels")
        if labels.size and labels.max() >= len(self.class_names):
            raise DataError(f"{label_file}: label {labels.max()} out of range 0-9")
        return ImageDataset(torch.from_numpy(images.copy()).unsqueeze(1),
                            torch.from_numpy(labels.astype(np.int64)), self.class_names,
                            name=self.name, split=split)


MNIST = _IdxInfo(
    name="mnist",
    description="MNIST handwritten digits, 28x28 grayscale (60k train, 10k test)",
    folder="mnist",
    # The PyTorch project's mirror of yann.lecun.com, which no longer serves the files reliably.
    base_url="https://ossci-datasets.s3.amazonaws.com/mnist/",
    sha256={
        "train-images-idx3-ubyte.gz":
            "440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609",
        "train-labels-idx1-ubyte.gz":
            "3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c",
        "t10k-images-idx3-ubyte.gz":
            "8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6",
        "t10k-labels-idx1-ubyte.gz":
            "f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6",
    },
    class_names=tuple(str(i) for i in range(10)),
    mean=0.1307,
    std=0.3081,
)

FASHION_MNIST = _IdxInfo(
    name="fashion-mnist",
    description="Fashion-MNIST Zalando article images, 28x28 grayscale (60k train, 10k test)",
    folder="fashion-mnist",
    base_url="http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",
    sha256={
        "train-images-idx3-ubyte.gz":
            "3aede38d61863908ad78613f6a32ed271626dd12800ba2636569512369268a84",
        "train-labels-idx1-ubyte.gz":
            "a04f17134ac03560a47e3764e11b92fc97de4d1bfaf8ba1a3aa29af54cc90845",
        "t10k-images-idx3-ubyte.gz":
            "346e55b948d973a97e58d2351dde16a484bd415d4595297633bb08f03db6a073",
        "t10k-labels-idx1-ubyte.gz":
            "67da17c76eaffca5446c3361aaab5c3cd6d1c2608764d35dfb1850b086bf8dd5",
    },
    class_names=("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt",
                 "Sneaker", "Bag", "Ankle boot"),
    mean=0.2860,
    std=0.3530,
)


@DATASETS.register("mnist")
def mnist() -> DatasetSource:
    """MNIST handwritten digits, 28x28 grayscale (60k train, 10k test)."""
    return IdxSource(MNIST)


@DATASETS.register("fashion-mnist")
def fashion_mnist() -> DatasetSource:
    """Fashion-MNIST Zalando article images, 28x28 grayscale (60k train, 10k test)."""
    return IdxSource(FASHION_MNIST)
