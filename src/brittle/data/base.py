"""The in-memory image dataset every brittle component consumes."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field

import torch
from torch.utils.data import Dataset

from brittle.errors import DataError


@dataclass(eq=False)
class ImageDataset(Dataset[tuple[torch.Tensor, torch.Tensor]]):
    """Images ``(N, C, H, W)`` with int64 labels ``(N,)`` and class names.

    ``images`` is stored either as uint8 (0-255, the compact form of the original files) or as
    float32 already in [0, 1]; every accessor returns float32 in [0, 1].

    Example:
        >>> ds = ImageDataset(torch.zeros(4, 1, 28, 28, dtype=torch.uint8),
        ...                   torch.tensor([0, 1, 0, 1]), ("a", "b"), name="toy")
        >>> x, y = ds.tensors()
        >>> x.dtype, x.shape, y.tolist()
        (torch.float32, torch.Size([4, 1, 28, 28]), [0, 1, 0, 1])
    """

    images: torch.Tensor
    labels: torch.Tensor
    class_names: tuple[str, ...]
    name: str = "dataset"
    split: str = "test"
    meta: dict[str, object] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.images.ndim != 4:
            raise DataError(f"{self.name}: images must be (N, C, H, W), "
                            f"got {tuple(self.images.shape)}")
        if self.images.dtype not in (torch.uint8, torch.float32):
            raise DataError(f"{self.name}: images must be uint8 or float32, "
                            f"got {self.images.dtype}")
        if self.labels.shape != (self.images.shape[0],):
            raise DataError(f"{self.name}: {self.images.shape[0]} images but labels of shape "
                            f"{tuple(self.labels.shape)}")
        self.labels = self.labels.to(torch.int64)
        self.class_names = tuple(self.class_names)
        if len(self) and (self.labels.min() < 0 or self.labels.max() >= self.num_classes):
            raise DataError(f"{self.name}: labels must lie in [0, {self.num_classes - 1}]")

    def __len__(self) -> int:
        return int(self.images.shape[0])

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        return self._to_float(self.images[index]), self.labels[index]

    @property
    def input_shape(self) -> tuple[int, int, int]:
        """``(C, H, W)`` of one image."""
        c, h, w = self.images.shape[1:]
        return int(c), int(h), int(w)

    @property
    def num_classes(self) -> int:
        return len(self.class_names)

    def tensors(self, device: torch.device | str | None = None,
                ) -> tuple[torch.Tensor, torch.Tensor]:
        """All images as float32 in [0, 1] and all labels, optionally moved to ``device``."""
        return self._to_float(self.images.to(device)), self.labels.to(device)

    def batches(self, batch_size: int, *, shuffle: bool = False,
                generator: torch.Generator | None = None,
                device: torch.device | str | None = None,
                ) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        """Yield ``(x, y)`` batches; with ``shuffle`` the order comes from ``generator``."""
        for _, x, y in self.indexed_batches(batch_size, shuffle=shuffle, generator=generator,
                                            device=device):
            yield x, y

    def indexed_batches(self, batch_size: int, *, shuffle: bool = False,
                        generator: torch.Generator | None = None,
                        device: torch.device | str | None = None,
                        ) -> Iterator[tuple[torch.Tensor, torch.Tensor, torch.Tensor]]:
        """Yield ``(index, x, y)`` batches, ``index`` ``(B,)`` being the batch's positions in
        the dataset (for per-sample state kept across epochs); otherwise as :meth:`batches`."""
        if batch_size < 1:
            raise DataError(f"batch size must be at least 1, got {batch_size}")
        n = len(self)
        order = torch.randperm(n, generator=generator) if shuffle else torch.arange(n)
        for start in range(0, n, batch_size):
            idx = order[start:start + batch_size]
            yield (idx.to(device), self._to_float(self.images[idx].to(device)),
                   self.labels[idx].to(device))

    def subset(self, n: int | None = None, *, indices: Sequence[int] | torch.Tensor | None = None,
               seed: int = 0) -> ImageDataset:
        """A deterministic subset: ``n`` samples drawn by ``seed`` (kept in original order), or
        the given ``indices``."""
        if (n is None) == (indices is None):
            raise DataError("subset takes exactly one of n or indices")
        if indices is None:
            assert n is not None
            if not 0 < n <= len(self):
                raise DataError(f"{self.name}: asked for {n} samples but it has {len(self)}")
            gen = torch.Generator().manual_seed(seed)
            idx = torch.randperm(len(self), generator=gen)[:n].sort().values
        else:
            idx = torch.as_tensor(indices, dtype=torch.int64)
            if idx.numel() and (idx.min() < 0 or idx.max() >= len(self)):
                raise DataError(f"{self.name}: subset indices out of range [0, {len(self)})")
        return ImageDataset(self.images[idx], self.labels[idx], self.class_names, name=self.name,
                            split=self.split, meta={**self.meta, "subset_of": len(self)})

    def class_counts(self) -> torch.Tensor:
        """Number of samples per class, shape ``(num_classes,)``."""
        return torch.bincount(self.labels, minlength=self.num_classes)

    @staticmethod
    def _to_float(images: torch.Tensor) -> torch.Tensor:
        if images.dtype == torch.uint8:
            return images.to(torch.float32).div_(255.0)
        return images
