"""Make dataset files present and verified: check, download, extract, all or nothing.

:func:`ensure_files` is the one entry point. It hashes what is in the data dir, refuses corrupt
or unverifiable files (it never overwrites a file it did not write), and fetches what is
missing: one file at a time from its URL, or, for files published only inside an archive, the
archive (see :mod:`brittle.data.archive`).

Every byte is written under a temporary name in the target folder and renamed into place only
after *all* files of the request passed their checksums. On any failure the temporary files,
and the folders this call created, are removed, so the data dir is left as it was.

Mirror: with ``BRITTLE_MIRROR=base`` every file is fetched from ``{base}/{relpath}`` instead
(``http``, ``https`` or ``file`` URLs), using the data-dir layout of ``../shared/data``. The
checksums are the same ones, so a mirror cannot serve different bytes.
"""

from __future__ import annotations

import contextlib
import hashlib
import http.client
import logging
import os
import tempfile
import urllib.error
import urllib.request
from collections.abc import Sequence
from pathlib import Path, PurePosixPath
from types import TracebackType
from typing import BinaryIO, Protocol

from tqdm.auto import tqdm

from brittle._version import __version__
from brittle.data.files import (
    FileStatus,
    RemoteArchive,
    RemoteFile,
    check_file,
    mirror_url,
    mismatch,
    remember_digests,
)
from brittle.errors import DataError

log = logging.getLogger(__name__)

#: Seconds to wait for a connection or for the next bytes of a response.
TIMEOUT_S = 30.0
_CHUNK = 1 << 20
_SCHEMES = ("http://", "https://", "file://")


class _Readable(Protocol):
    def read(self, size: int = ..., /) -> bytes: ...


class NetworkError(Exception):
    """A download failed before any checksum could be computed (offline, 404, timeout)."""


def ensure_files(files: Sequence[RemoteFile], data_dir: Path, *, download: bool,
                 what: str) -> list[FileStatus]:
    """Return the verified status of every file, downloading missing ones if allowed.

    Args:
        files: The files one dataset split needs.
        data_dir: The data dir root.
        download: Whether missing files may be fetched.
        what: A label for messages, e.g. ``"mnist test"``.

    Returns:
        One ``ok`` :class:`FileStatus` per file, in order.

    Raises:
        DataError: A file is corrupt or unverified, missing with ``download=False``, cannot be
            downloaded, or the download fails its checksum. The message is one line that names
            the files, their URLs and the folder to put them in.

    Example:
        >>> ensure_files([], Path("/tmp"), download=False, what="nothing")
        []
    """
    statuses = [check_file(f, data_dir) for f in files]
    bad = [s for s in statuses if s.status in ("corrupt", "unverified")]
    if bad:
        raise DataError(_bad_message(bad, what))
    missing = [f for f, s in zip(files, statuses, strict=True) if s.status == "missing"]
    if not missing:
        return statuses
    # An archive the user placed in the data dir counts as present: extracting it is offline.
    local = [f for f in missing if _local_archive(f, data_dir) is not None]
    remote = [f for f in missing if f not in local]
    if remote and not download:
        raise DataError(_missing_message(remote, data_dir, what, "download is off"))
    with Staging(data_dir) as staging:
        try:
            _fetch_all(local, remote, data_dir, staging)
        except NetworkError as exc:
            reason = f"download failed: {exc}"
            raise DataError(_missing_message(missing, data_dir, what, reason)) from None
        try:
            staging.commit()
        except OSError as exc:
            raise DataError(f"{what}: cannot move verified files into {data_dir}: {exc}") from None
    statuses = [check_file(f, data_dir) for f in files]
    bad = [s for s in statuses if s.status != "ok"]  # e.g. changed by another process meanwhile
    if bad:
        raise DataError(_bad_message(bad, what))
    return statuses


class Staging:
    """Temporary files beside their targets, renamed into place together by :meth:`commit`."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self._pending: list[tuple[Path, Path, tuple[str, str] | None]] = []
        self._scratch: list[Path] = []
        self._created: list[Path] = []

    def __enter__(self) -> Staging:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        for tmp in self._scratch:  # staged files already renamed are simply gone
            tmp.unlink(missing_ok=True)
        for folder in reversed(self._created):  # deepest first; only if left empty
            with contextlib.suppress(OSError):
                folder.rmdir()

    def temp_for(self, target: Path) -> Path:
        """A new empty temporary file in ``target``'s folder (created if needed).

        It is deleted on exit unless :meth:`stage` and :meth:`commit` moved it into place.
        """
        self._makedirs(target.parent)
        try:
            fd, name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".part",
                                        dir=target.parent)
        except OSError as exc:
            raise NetworkError(f"cannot write to {target.parent}: {exc.strerror}") from None
        os.close(fd)
        self._scratch.append(Path(name))
        return Path(name)

    def stage(self, tmp: Path, target: Path, digests: tuple[str, str] | None = None) -> None:
        """Schedule ``tmp`` to replace ``target`` on commit."""
        self._pending.append((tmp, target, digests))

    def commit(self) -> None:
        """Rename every staged file onto its target."""
        for tmp, target, digests in self._pending:
            os.replace(tmp, target)
            if digests is not None:
                remember_digests(target, digests)
        self._pending.clear()

    def _makedirs(self, folder: Path) -> None:
        missing = []
        for parent in (folder, *folder.parents):
            if parent.exists():
                break
            missing.append(parent)
        for parent in reversed(missing):
            try:
                parent.mkdir()
            except FileExistsError:
                continue
            except OSError as exc:
                raise NetworkError(f"cannot create {parent}: {exc.strerror}") from None
            self._created.append(parent)


def download_to(url: str, tmp: Path, *, label: str) -> tuple[str, str]:
    """Stream ``url`` into ``tmp`` with a progress bar; return its ``(sha256, md5)``.

    Raises:
        NetworkError: The URL could not be fetched completely.
    """
    if not url.startswith(_SCHEMES):
        raise NetworkError(f"unsupported URL scheme in {url}")
    log.info("downloading %s from %s", label, url)
    request = urllib.request.Request(url, headers={"User-Agent": f"brittle/{__version__}"})
    try:
        with urllib.request.urlopen(request, timeout=TIMEOUT_S) as response, \
                tmp.open("wb") as out:
            length = response.headers.get("Content-Length")
            total = int(length) if length and length.isdigit() else None
            return copy_hashing(response, out, total=total, label=label)
    except urllib.error.HTTPError as exc:
        raise NetworkError(f"{url}: HTTP {exc.code} {exc.reason}") from None
    except urllib.error.URLError as exc:
        raise NetworkError(f"{url}: {exc.reason}") from None
    except (OSError, http.client.HTTPException) as exc:
        raise NetworkError(f"{url}: {exc or type(exc).__name__}") from None


def copy_hashing(src: _Readable, out: BinaryIO, *, total: int | None,
                 label: str) -> tuple[str, str]:
    """Copy ``src`` to ``out`` with a byte progress bar; return the ``(sha256, md5)`` copied."""
    sha, md5 = hashlib.sha256(), hashlib.md5(usedforsecurity=False)
    # disable=None: tqdm shows the bar only on a terminal, so logs and tests stay clean.
    with tqdm(total=total, unit="B", unit_scale=True, unit_divisor=1024, desc=label,
              disable=None, leave=False, dynamic_ncols=True) as bar:
        while chunk := src.read(_CHUNK):
            out.write(chunk)
            sha.update(chunk)
            md5.update(chunk)
            bar.update(len(chunk))
    return sha.hexdigest(), md5.hexdigest()


def _fetch_all(local: list[RemoteFile], remote: list[RemoteFile], data_dir: Path,
               staging: Staging) -> None:
    # Imported here: archive.py builds on this module's Staging and download_to.
    from brittle.data.archive import extract_members, fetch_archive

    singles = [f for f in remote if _own_url(f) is not None]
    for f in singles:
        _fetch_single(f, data_dir, staging)
    for archive, members in _by_archive(local).items():
        extract_members(data_dir / archive.relpath, archive, members, data_dir, staging)
    for archive, members in _by_archive([f for f in remote if f not in singles]).items():
        fetch_archive(archive, members, data_dir, staging)


def _fetch_single(file: RemoteFile, data_dir: Path, staging: Staging) -> None:
    url = _own_url(file)
    assert url is not None
    target = data_dir / file.relpath
    tmp = staging.temp_for(target)
    digests = download_to(url, tmp, label=file.relpath)
    bad = mismatch(digests, file.checksum)
    if bad:
        raise DataError(f"downloaded {file.relpath} from {url} but it does not match its "
                        f"checksum ({bad}); nothing was kept in {data_dir}")
    staging.stage(tmp, target, digests)


def _own_url(file: RemoteFile) -> str | None:
    """The URL a file is fetched from by itself; ``None`` means: through its archive."""
    if file.checksum is None:
        return None  # only a verified archive can vouch for it
    return mirror_url(file.relpath) or file.url


def source_url(file: RemoteFile) -> tuple[str, str]:
    """``(relpath, url)`` of what to download for ``file``: itself or its archive."""
    own = _own_url(file)
    if own is not None:
        return file.relpath, own
    assert file.archive is not None
    return file.archive.relpath, mirror_url(file.archive.relpath) or file.archive.url


def _local_archive(file: RemoteFile, data_dir: Path) -> Path | None:
    if file.archive is None:
        return None
    path = data_dir / file.archive.relpath
    return path if path.is_file() else None


def _by_archive(files: list[RemoteFile]) -> dict[RemoteArchive, list[RemoteFile]]:
    groups: dict[RemoteArchive, list[RemoteFile]] = {}
    for f in files:
        assert f.archive is not None
        groups.setdefault(f.archive, []).append(f)
    return groups


def _missing_message(files: list[RemoteFile], data_dir: Path, what: str, reason: str) -> str:
    wanted = dict(source_url(f) for f in files)  # archive members collapse into one entry
    archives = {f.archive.relpath for f in files if f.archive is not None}
    listing = ", ".join(f"{rel} from {url}" + (" (brittle verifies and extracts it)"
                                               if rel in archives else "")
                        for rel, url in wanted.items())
    parents = {str(PurePosixPath(rel).parent) for rel in wanted}
    where = (f"put {'it' if len(wanted) == 1 else 'them'} in {data_dir / parents.pop()}"
             if len(parents) == 1 else f"put them under {data_dir}, keeping the paths shown")
    return (f"{what}: missing {', '.join(f.relpath for f in files)} ({reason}); get {listing}; "
            f"{where} (or set BRITTLE_DATA / BRITTLE_MIRROR)")


def _bad_message(bad: list[FileStatus], what: str) -> str:
    parts = [f"{s.path} is {s.status} ({s.detail})" for s in bad]
    urls = ", ".join(sorted({s.url for s in bad}))
    return (f"{what}: {'; '.join(parts)}; brittle never overwrites such files: delete "
            f"{'it' if len(bad) == 1 else 'them'} to download again, or replace with the "
            f"official file from {urls}")
