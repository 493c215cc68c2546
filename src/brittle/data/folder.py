"""``folder:PATH``: a user's own PNG/JPEG images, one sub-folder per class."""

from __future__ import annotations

import hashlib
import io
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image, UnidentifiedImageError

from brittle.data.base import ImageDataset
from brittle.data.files import RemoteFile
from brittle.data.registry import DatasetSource
from brittle.errors import DataError

log = logging.getLogger(__name__)

EXTENSIONS = (".png", ".jpg", ".jpeg")
_GRAY = {"1", "L", "LA"}
_COLOR = {"RGB", "RGBA", "P", "PA", "CMYK", "YCbCr", "LAB", "HSV", "RGBX", "La"}


@dataclass(frozen=True)
class _Image:
    relpath: str
    label: int
    mode: str
    size: tuple[int, int]  # (H, W)
    data: bytes


class FolderSource(DatasetSource):
    """Images in ``PATH/<class>/<image>.png|.jpg|.jpeg``; classes are sub-folder names, sorted.

    If ``PATH`` holds ``train/`` and ``test/`` folders, each with the same class sub-folders,
    those are the two splits; otherwise the whole folder is the ``test`` split. Images are
    decoded with Pillow when the source is built, converted to ``channels`` (1: grayscale via
    ``L``, 3: ``RGB``; alpha is dropped) and resized to ``size`` with bilinear filtering. They
    are stored as uint8 ``(N, C, H, W)``. ``mean``/``std`` are measured on the train split
    (else the test split). Hidden files and other extensions are ignored. Symbolic links that
    lead outside ``PATH`` are refused, never followed.

    Args:
        path: The folder.
        size: ``(H, W)`` (or one int for square) to resize to; ``None`` keeps the images' own
            size, which must then be the same for all.
        channels: 1 or 3; ``None`` infers it and refuses a mix of grayscale and color images.

    Raises:
        DataError: One line for: path missing, no class folders, an empty class folder, an
            unreadable image (named), mixed modes (an example of each), mixed sizes.

    Example:
        >>> src = FolderSource("my_images", size=(28, 28), channels=1)  # doctest: +SKIP
        >>> src.load("test").images.shape  # doctest: +SKIP
        torch.Size([200, 1, 28, 28])
    """

    def __init__(self, path: str | Path, *, size: int | Sequence[int] | None = None,
                 channels: int | None = None) -> None:
        self.root = Path(path).expanduser()
        self.name = f"folder:{path}"
        self.description = f"images in class folders under {path}"
        if channels not in (None, 1, 3):
            raise DataError(f"{self.name}: channels must be 1, 3 or None, got {channels!r}")
        self._size = _parse_size(size, self.name)
        if not self.root.is_dir():
            raise DataError(f"{self.name}: no such folder {self.root}")
        self._real_root = self.root.resolve()
        split_dirs = {s: self.root / s for s in ("train", "test")}
        has_splits = all(self._is_dir(d) for d in split_dirs.values())
        self.splits = ("train", "test") if has_splits else ("test",)
        self._dirs = split_dirs if has_splits else {"test": self.root}
        self.class_names = self._classes(self._dirs[self.splits[0]])
        scanned = {s: self._scan(s) for s in self.splits}
        self._channels = channels or self._infer_channels(scanned)
        self._out_size = self._size or self._common_size(scanned)
        self._data = {s: self._decode(imgs) for s, imgs in scanned.items()}
        self.input_shape = (self._channels, *self._out_size)
        self.mean, self.std = channel_stats(self._data[self.splits[0]][0])

    def files(self, split: str, **options: Any) -> list[RemoteFile]:
        return []

    def read(self, split: str, paths: Mapping[str, Path], **options: Any) -> ImageDataset:
        images, labels, digest = self._data[split]
        meta = {"path": str(self.root), "images": len(labels), "content_sha256": digest,
                "channels": self._channels, "size": list(self._out_size)}
        return ImageDataset(images, labels, self.class_names, name=self.name, split=split,
                            meta=meta)

    def _is_dir(self, path: Path) -> bool:
        return path.is_dir() and self._inside(path)

    def _inside(self, path: Path) -> bool:
        if path.resolve().is_relative_to(self._real_root):
            return True
        raise DataError(f"{self.name}: {path} is a link to {path.resolve()}, outside the "
                        f"folder; brittle does not follow links out of it")

    def _classes(self, folder: Path) -> tuple[str, ...]:
        names = sorted(p.name for p in folder.iterdir()
                       if not p.name.startswith(".") and self._is_dir(p))
        if not names:
            raise DataError(f"{self.name}: no class sub-folders in {folder} (expected "
                            f"{folder}/<class>/<image>.png)")
        return tuple(names)

    def _scan(self, split: str) -> list[_Image]:
        folder = self._dirs[split]
        if split != self.splits[0] and self._classes(folder) != self.class_names:
            raise DataError(f"{self.name}: the class folders of {folder} differ from "
                            f"{self._dirs[self.splits[0]]}")
        found: list[_Image] = []
        for label, cls in enumerate(self.class_names):
            files = sorted(p for p in (folder / cls).iterdir() if not p.name.startswith(".")
                           and p.suffix.lower() in EXTENSIONS and p.is_file() and self._inside(p))
            if not files:
                raise DataError(f"{self.name}: class folder {folder / cls} has no PNG or JPEG "
                                f"images")
            found.extend(self._probe(p, label) for p in files)
        return found

    def _probe(self, path: Path, label: int) -> _Image:
        relpath = str(path.relative_to(self.root))
        data = path.read_bytes()
        try:
            with Image.open(io.BytesIO(data)) as im:
                mode, (w, h) = im.mode, im.size
        except (OSError, UnidentifiedImageError, ValueError, Image.DecompressionBombError) as exc:
            raise DataError(f"{self.name}: cannot read image {relpath}: {exc}") from None
        if mode not in _GRAY | _COLOR:
            raise DataError(f"{self.name}: image {relpath} has unsupported mode {mode} (use "
                            f"8-bit grayscale or RGB)")
        return _Image(relpath, label, mode, (h, w), data)

    def _infer_channels(self, scanned: Mapping[str, list[_Image]]) -> int:
        images = [im for imgs in scanned.values() for im in imgs]
        gray = next((im for im in images if im.mode in _GRAY), None)
        color = next((im for im in images if im.mode not in _GRAY), None)
        if gray is not None and color is not None:
            raise DataError(f"{self.name}: mixed grayscale and color images ({gray.relpath} is "
                            f"{gray.mode}, {color.relpath} is {color.mode}); pass channels=1 "
                            f"or channels=3")
        return 1 if color is None else 3

    def _common_size(self, scanned: Mapping[str, list[_Image]]) -> tuple[int, int]:
        images = [im for imgs in scanned.values() for im in imgs]
        odd = next((im for im in images if im.size != images[0].size), None)
        if odd is not None:
            raise DataError(f"{self.name}: images differ in size ({images[0].relpath} is "
                            f"{images[0].size}, {odd.relpath} is {odd.size} as (H, W)); pass "
                            f"size=(H, W)")
        return images[0].size

    def _decode(self, images: list[_Image]) -> tuple[torch.Tensor, torch.Tensor, str]:
        h, w = self._out_size
        out = np.empty((len(images), h, w, self._channels), dtype=np.uint8)
        digest = hashlib.sha256()
        for i, im in enumerate(images):
            out[i] = self._pixels(im).reshape(h, w, self._channels)
            digest.update(f"{im.relpath}\0{hashlib.sha256(im.data).hexdigest()}\n".encode())
        labels = torch.tensor([im.label for im in images], dtype=torch.int64)
        return torch.from_numpy(out).permute(0, 3, 1, 2).contiguous(), labels, digest.hexdigest()

    def _pixels(self, im: _Image) -> np.ndarray:
        h, w = self._out_size
        try:
            with Image.open(io.BytesIO(im.data)) as opened:
                pil = opened.convert("L" if self._channels == 1 else "RGB")
            if (pil.height, pil.width) != (h, w):
                pil = pil.resize((w, h), Image.Resampling.BILINEAR)
            return np.asarray(pil, dtype=np.uint8)
        except (OSError, ValueError, SyntaxError) as exc:
            raise DataError(f"{self.name}: cannot decode image {im.relpath}: {exc}") from None


def channel_stats(images: torch.Tensor, *, chunk: int = 1024,
                  ) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """Per-channel mean and population std of uint8 images ``(N, C, H, W)``, in [0, 1] scale.

    Accumulates in chunks so a large folder never needs a float copy of all its pixels.

    Example:
        >>> channel_stats(torch.full((2, 1, 2, 2), 255, dtype=torch.uint8))
        ((1.0,), (0.0,))
    """
    total = torch.zeros(images.shape[1], dtype=torch.float64)
    squares = torch.zeros_like(total)
    for start in range(0, len(images), chunk):
        x = images[start:start + chunk].to(torch.float64) / 255.0
        total += x.sum(dim=(0, 2, 3))
        squares += x.square().sum(dim=(0, 2, 3))
    count = images.numel() / images.shape[1]
    mean = total / count
    std = (squares / count - mean.square()).clamp_min(0).sqrt()
    return tuple(float(v) for v in mean), tuple(float(v) for v in std)


def _parse_size(size: int | Sequence[int] | None, name: str) -> tuple[int, int] | None:
    if size is None:
        return None
    hw = (size, size) if isinstance(size, int) else tuple(size)
    if len(hw) != 2 or not all(isinstance(v, int) and v > 0 for v in hw):
        raise DataError(f"{name}: size must be (H, W) of positive ints, got {size!r}")
    return int(hw[0]), int(hw[1])
