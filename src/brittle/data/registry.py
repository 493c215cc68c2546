"""The dataset registry and the small base class every dataset source implements."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping
from pathlib import Path
from typing import Any, ClassVar

from brittle.data.base import ImageDataset
from brittle.data.fetch import ensure_files
from brittle.data.files import FileStatus, RemoteFile, resolve_data_dir
from brittle.errors import DataError
from brittle.registry import Registry


class DatasetSource(ABC):
    """Where one dataset comes from and how to read it into an :class:`ImageDataset`.

    Subclasses set the class attributes, list the files of each split in :meth:`files` and
    decode them in :meth:`read`. :meth:`load` is the same for all: check the split and options,
    make the files present and verified (see :func:`brittle.data.fetch.ensure_files`), read, and
    record provenance in ``meta``.

    Attributes:
        name: Registry name.
        description: One line for listings.
        input_shape: ``(C, H, W)`` of one image.
        class_names: Class names in label order.
        mean: Per-channel mean of the training split in [0, 1] pixel scale.
        std: Per-channel standard deviation of the training split.
        splits: The split names this source has.
        options: Names of the keyword options :meth:`load` accepts.

    Example:
        >>> from brittle.data import source
        >>> ds = source("digits").load("test")
        >>> ds.images.shape
        torch.Size([450, 1, 28, 28])
    """

    name: str
    description: str
    input_shape: tuple[int, int, int]
    class_names: tuple[str, ...]
    mean: tuple[float, ...]
    std: tuple[float, ...]
    splits: tuple[str, ...] = ("train", "test")
    options: ClassVar[frozenset[str]] = frozenset()

    @abstractmethod
    def files(self, split: str, **options: Any) -> list[RemoteFile]:
        """The files ``split`` needs, as paths relative to the data dir."""

    @abstractmethod
    def read(self, split: str, paths: Mapping[str, Path], **options: Any) -> ImageDataset:
        """Decode verified files (``relpath -> absolute path``) into a dataset."""

    def load(self, split: str = "test", *, data_dir: str | Path | None = None,
             download: bool = True, **options: Any) -> ImageDataset:
        """Load ``split`` as images ``(N, C, H, W)`` in [0, 1] with int64 labels ``(N,)``.

        Args:
            split: One of :attr:`splits`.
            data_dir: The data dir; default :func:`resolve_data_dir`.
            download: Fetch missing files from the canonical source (or ``BRITTLE_MIRROR``).
                Either way, files are verified, and an official archive already placed in
                the data dir is verified and extracted without any network access.
            **options: Source-specific options listed in :attr:`options`.

        Raises:
            DataError: Unknown split or option; files missing, corrupt or malformed.
        """
        self.check(split, options)
        files = self.files(split, **options)
        statuses: list[FileStatus] = []
        root: Path | None = None
        if files:
            root = resolve_data_dir(data_dir)
            statuses = ensure_files(files, root, download=download, what=f"{self.name} {split}")
        paths = {s.relpath: s.path for s in statuses}
        dataset = self.read(split, paths, **options)
        dataset.meta = {
            "source": self.name, "split": split,
            "data_dir": None if root is None else str(root),
            "files": {s.relpath: {"sha256": s.sha256} for s in statuses},
            "mean": list(self.mean), "std": list(self.std),
            **dataset.meta,
        }
        return dataset

    def check(self, split: str, options: Mapping[str, Any]) -> None:
        """Raise a one-line :class:`DataError` for an unknown split or option."""
        if split not in self.splits:
            raise DataError(f"{self.name} has no split {split!r}; splits: {', '.join(self.splits)}")
        unknown = sorted(set(options) - self.options)
        if unknown:
            allowed = ", ".join(sorted(self.options)) or "none"
            raise DataError(f"{self.name} has no option {', '.join(unknown)}; options: {allowed}")


#: All dataset sources by name. ``folder:PATH`` is handled by :func:`brittle.data.load`.
DATASETS = Registry[DatasetSource]("dataset")
