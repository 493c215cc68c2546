"""Dataset files on disk: where they live, what they should hash to, and whether they do.

Every file a dataset needs is a :class:`RemoteFile`: its path inside the data dir (the same
layout as ``../shared/data``), where to download it, and the checksum it must match. sha256 is
preferred; md5 is used only where no sha256 has been published. A file that no checksum covers
by itself (the CIFAR-10 batches 3-5) names the :class:`RemoteArchive` it comes out of: it is
trusted only after brittle extracted it from a verified copy of that archive, which records the
member's sha256 in a small manifest beside it (see :mod:`brittle.data.fetch`).

Downloading lives in :mod:`brittle.data.fetch`; this module never touches the network.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Literal
from urllib.parse import quote

from brittle.errors import DataError

Status = Literal["ok", "missing", "corrupt", "unverified"]

#: Name of the manifest written beside files extracted from a verified archive.
MANIFEST_NAME = ".brittle-extracted.json"

_CHUNK = 1 << 20
# (path, size, mtime_ns, inode) -> (sha256, md5): re-loading a dataset in one process does not
# re-hash hundreds of megabytes. A rewrite or replacement changes size, mtime_ns or inode (on
# file systems with coarse timestamps an in-place rewrite within the same tick could be missed).
_DIGEST_CACHE: dict[tuple[str, int, int, int], tuple[str, str]] = {}


@dataclass(frozen=True)
class RemoteArchive:
    """A compressed archive that holds dataset files, e.g. ``cifar-10-binary.tar.gz``.

    Members are looked up by their path relative to the archive's folder: the archive
    ``cifar10/cifar-10-binary.tar.gz`` holds ``cifar-10-batches-bin/test_batch.bin``, which lands
    at ``cifar10/cifar-10-batches-bin/test_batch.bin`` in the data dir.

    Example:
        >>> a = RemoteArchive("cifar10/x.tar.gz", "https://example.org/x.tar.gz", md5="0" * 32)
        >>> a.member_name("cifar10/batches/b.bin")
        'batches/b.bin'
    """

    relpath: str
    url: str
    sha256: str | None = None
    md5: str | None = None

    def __post_init__(self) -> None:
        _check_digests(self.relpath, self.sha256, self.md5)
        if self.sha256 is None and self.md5 is None:
            raise ValueError(f"archive {self.relpath} needs a sha256 or md5")

    def member_name(self, relpath: str) -> str:
        """The name inside the archive of the data-dir file ``relpath``."""
        return str(PurePosixPath(relpath).relative_to(PurePosixPath(self.relpath).parent))


@dataclass(frozen=True)
class RemoteFile:
    """One file a dataset needs, with its canonical URL and checksum.

    Args:
        relpath: Path inside the data dir, with ``/`` separators (``mnist/t10k-...gz``).
        url: Canonical download URL, or ``None`` when the file is only published inside
            ``archive``.
        sha256: Expected sha256 (lower-case hex), preferred.
        md5: Expected md5, only where no sha256 is known.
        size: Expected size in bytes, when known (a quick early check).
        archive: The archive this file can be extracted from.

    Example:
        >>> f = RemoteFile("mnist/a.gz", "https://example.org/a.gz", sha256="0" * 64)
        >>> f.checksum
        ('sha256', '0000000000000000000000000000000000000000000000000000000000000000')
    """

    relpath: str
    url: str | None
    sha256: str | None = None
    md5: str | None = None
    size: int | None = None
    archive: RemoteArchive | None = None

    def __post_init__(self) -> None:
        _check_digests(self.relpath, self.sha256, self.md5)
        path = PurePosixPath(self.relpath)
        if path.is_absolute() or ".." in path.parts or "\\" in self.relpath:
            raise ValueError(f"relpath must be a plain relative path, got {self.relpath!r}")
        if self.url is None and self.archive is None:
            raise ValueError(f"{self.relpath}: needs a url or an archive")
        if self.sha256 is None and self.md5 is None and self.archive is None:
            raise ValueError(f"{self.relpath}: a file without a checksum must name its archive")

    @property
    def checksum(self) -> tuple[str, str] | None:
        """``(algorithm, hex digest)`` this file must match by itself, or ``None``."""
        if self.sha256 is not None:
            return "sha256", self.sha256
        if self.md5 is not None:
            return "md5", self.md5
        return None

    @property
    def source_url(self) -> str:
        """Where a person would fetch this file by hand: its own URL or its archive's."""
        if self.url is not None:
            return self.url
        assert self.archive is not None
        return self.archive.url


@dataclass(frozen=True)
class FileStatus:
    """The state of one dataset file in a data dir.

    ``status`` is ``ok`` (present and matches), ``missing``, ``corrupt`` (present, does not
    match) or ``unverified`` (present, but no checksum covers it and brittle did not extract it
    from a verified archive). ``sha256`` is the digest of the file on disk, when present.
    """

    path: Path
    status: Status
    url: str
    relpath: str = ""
    sha256: str | None = None
    detail: str = ""


def resolve_data_dir(explicit: str | os.PathLike[str] | None = None) -> Path:
    """The data dir: ``explicit``, else ``$BRITTLE_DATA``, else the user cache.

    The cache is ``$XDG_CACHE_HOME/brittle/data`` or ``~/.cache/brittle/data``. The folder is
    not created here; downloading creates it.

    Example:
        >>> resolve_data_dir("/tmp/brittle-data")
        PosixPath('/tmp/brittle-data')
    """
    if explicit is not None and str(explicit) != "":
        return Path(explicit).expanduser()
    env = os.environ.get("BRITTLE_DATA")
    if env:
        return Path(env).expanduser()
    cache = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(cache).expanduser() / "brittle" / "data"


def mirror_url(relpath: str) -> str | None:
    """``{BRITTLE_MIRROR}/{relpath}`` when the mirror is set, else ``None``."""
    mirror = os.environ.get("BRITTLE_MIRROR", "").strip()
    if not mirror:
        return None
    return mirror.rstrip("/") + "/" + quote(relpath)


def file_digests(path: Path) -> tuple[str, str]:
    """``(sha256, md5)`` of ``path`` in one read, cached while the file is unchanged."""
    st = path.stat()
    key = (str(path.resolve()), st.st_size, st.st_mtime_ns, st.st_ino)
    if key not in _DIGEST_CACHE:
        sha, md5 = hashlib.sha256(), hashlib.md5(usedforsecurity=False)
        with path.open("rb") as fh:
            while chunk := fh.read(_CHUNK):
                sha.update(chunk)
                md5.update(chunk)
        _DIGEST_CACHE[key] = (sha.hexdigest(), md5.hexdigest())
    return _DIGEST_CACHE[key]


def remember_digests(path: Path, digests: tuple[str, str]) -> None:
    """Record digests computed while writing ``path`` so the next check need not re-read it."""
    st = path.stat()
    _DIGEST_CACHE[(str(path.resolve()), st.st_size, st.st_mtime_ns, st.st_ino)] = digests


def mismatch(digests: tuple[str, str], expected: tuple[str, str] | None) -> str:
    """Empty when ``digests`` match ``expected``, else a short description of the mismatch."""
    if expected is None:
        return ""
    algo, want = expected
    got = digests[0] if algo == "sha256" else digests[1]
    return "" if got == want else f"{algo} {got[:12]}... expected {want[:12]}..."


def check_file(file: RemoteFile, data_dir: Path) -> FileStatus:
    """Hash one file in ``data_dir`` and compare it with what it should be.

    Example:
        >>> f = RemoteFile("mnist/a.gz", "https://example.org/a.gz", sha256="0" * 64)
        >>> check_file(f, Path("/nonexistent")).status
        'missing'
    """
    path = data_dir / file.relpath

    def status(state: Status, sha256: str | None = None, detail: str = "") -> FileStatus:
        return FileStatus(path, state, file.source_url, file.relpath, sha256, detail)

    if not path.is_file():
        return status("missing")
    if file.size is not None and path.stat().st_size != file.size:
        return status("corrupt", None, f"size {path.stat().st_size} bytes, expected {file.size}")
    digests = file_digests(path)
    expected = file.checksum or _manifest_checksum(file, data_dir)
    if expected is None:
        return status("unverified", digests[0],
                      "no published checksum, and not extracted from the verified archive")
    bad = mismatch(digests, expected)
    return status("corrupt" if bad else "ok", digests[0], bad)


def manifest_path(archive: RemoteArchive, data_dir: Path) -> Path:
    """Where brittle records the sha256 of members it extracted from ``archive``."""
    return data_dir / PurePosixPath(archive.relpath).parent / MANIFEST_NAME


def read_manifest(path: Path) -> dict[str, dict[str, str]]:
    """``{relpath: {"sha256": ..., "archive": ..., "archive_checksum": ...}}``; empty if absent."""
    try:
        payload = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as exc:
        raise DataError(f"cannot read {path}: {exc}; delete it and download again") from None
    files = payload.get("files", {}) if isinstance(payload, dict) else {}
    return {k: v for k, v in files.items() if isinstance(v, dict) and "sha256" in v}


def _manifest_checksum(file: RemoteFile, data_dir: Path) -> tuple[str, str] | None:
    if file.archive is None:
        return None
    entry = read_manifest(manifest_path(file.archive, data_dir)).get(file.relpath)
    return ("sha256", entry["sha256"]) if entry else None


def _check_digests(name: str, sha256: str | None, md5: str | None) -> None:
    for algo, value, length in (("sha256", sha256, 64), ("md5", md5, 32)):
        if value is not None and (len(value) != length or value.strip("0123456789abcdef")):
            raise ValueError(f"{name}: {algo} must be {length} lower-case hex digits")
