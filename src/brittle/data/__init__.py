"""Datasets by name: verified files, in-memory :class:`ImageDataset` s, one API for all.

Registered sources: ``digits`` (embedded in scikit-learn, offline), ``mnist``,
``fashion-mnist``, ``kmnist`` and ``cifar10``; plus ``folder:PATH`` for a user's own images
in class folders. Files live in the data dir (:func:`resolve_data_dir`, same layout as
``../shared/data``), are verified by checksum on every load, and are downloaded from the
canonical source only when missing (``BRITTLE_MIRROR=base_url`` fetches
``{base_url}/{relpath}`` instead).

Example:
    >>> from brittle import data
    >>> ds = data.load("digits", "test")
    >>> ds.images.shape, ds.num_classes
    (torch.Size([450, 1, 28, 28]), 10)
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

from brittle.data import cifar10, digits, idx, kmnist  # noqa: F401  (they register themselves)
from brittle.data.base import ImageDataset
from brittle.data.fetch import Staging, ensure_files
from brittle.data.files import FileStatus, RemoteArchive, RemoteFile, check_file, resolve_data_dir
from brittle.data.folder import FolderSource
from brittle.data.registry import DATASETS, DatasetSource

__all__ = [
    "DATASETS",
    "DatasetSource",
    "FileStatus",
    "ImageDataset",
    "RemoteArchive",
    "RemoteFile",
    "Staging",
    "download",
    "load",
    "names",
    "resolve_data_dir",
    "source",
    "verify",
]

FOLDER_PREFIX = "folder:"


def load(name: str, split: str = "test", *, data_dir: str | Path | None = None,
         download: bool = True, **options: Any) -> ImageDataset:
    """Load a dataset split as images ``(N, C, H, W)`` in [0, 1] and int64 labels ``(N,)``.

    Args:
        name: A registered name (:func:`names`) or ``folder:PATH``.
        split: ``"train"`` or ``"test"`` (a folder without ``train/``/``test/`` is ``test``).
        data_dir: The data dir; default :func:`resolve_data_dir`.
        download: Fetch missing files (checksums are verified either way).
        **options: Source options: ``batches=(1, 2)`` for ``cifar10`` train; ``size=(H, W)``
            and ``channels=1|3`` for ``folder:PATH``.

    Raises:
        BrittleError: Unknown name (the message lists the known ones).
        DataError: Unknown split or option; files missing, corrupt or malformed.

    Example:
        >>> ds = load("digits", "train")
        >>> len(ds), ds.input_shape
        (1347, (1, 28, 28))
    """
    if name.startswith(FOLDER_PREFIX):
        folder_opts = {k: options.pop(k) for k in ("size", "channels") if k in options}
        return FolderSource(name[len(FOLDER_PREFIX):], **folder_opts).load(
            split, data_dir=data_dir, download=download, **options)
    return source(name).load(split, data_dir=data_dir, download=download, **options)


def names() -> list[str]:
    """Registered dataset names, sorted (``folder:PATH`` is always available too).

    Example:
        >>> names()
        ['cifar10', 'digits', 'fashion-mnist', 'kmnist', 'mnist']
    """
    return DATASETS.names()


def source(name: str) -> DatasetSource:
    """The :class:`DatasetSource` for ``name`` (a registered name or ``folder:PATH``).

    Example:
        >>> source("mnist").mean
        (0.1307,)
    """
    if name.startswith(FOLDER_PREFIX):
        return FolderSource(name[len(FOLDER_PREFIX):])
    return DATASETS.create(name)


def verify(name: str, *, data_dir: str | Path | None = None,
           splits: Iterable[str] | None = None) -> list[FileStatus]:
    """Check the files of ``name`` in the data dir without downloading anything.

    Returns:
        One :class:`FileStatus` per file of the chosen splits (default all), with status
        ``ok``, ``missing``, ``corrupt`` or ``unverified``.

    Example:
        >>> [s.status for s in verify("mnist", data_dir="/nonexistent")]
        ['missing', 'missing', 'missing', 'missing']
    """
    root = resolve_data_dir(data_dir)
    return [check_file(f, root) for f in _files(name, splits)]


def download(name: str, *, data_dir: str | Path | None = None,
             splits: Iterable[str] | None = None) -> list[Path]:
    """Make every file of ``name`` (chosen splits, default all) present and verified.

    Returns:
        The paths of the files, in the data dir.

    Raises:
        DataError: A file is corrupt, or cannot be downloaded or verified.

    Example:
        >>> download("digits")  # embedded: nothing to fetch
        []
    """
    root = resolve_data_dir(data_dir)
    statuses = ensure_files(_files(name, splits), root, download=True, what=name)
    return [s.path for s in statuses]


def _files(name: str, splits: Iterable[str] | None) -> list[RemoteFile]:
    src = source(name)
    chosen = src.splits if splits is None else tuple(splits)
    unique: dict[str, RemoteFile] = {}
    for split in chosen:
        src.check(split, {})
        unique.update((f.relpath, f) for f in src.files(split))
    return list(unique.values())
