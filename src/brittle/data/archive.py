"""Archives: verify the whole archive, then extract only the members asked for, verified.

The order of trust is: the archive must match its published checksum (md5 for
``cifar-10-binary.tar.gz``, the only one the authors publish); then each extracted member that
has a checksum of its own (sha256) must match it too. Members without one are trusted because
the archive was verified; brittle records their sha256 in a manifest
(:data:`brittle.data.files.MANIFEST_NAME`) beside them, so later loads can detect a change.

Extraction is safe by construction: brittle computes each output path itself from the
requested :class:`~brittle.data.files.RemoteFile`, streams only regular-file members whose name
equals one of those, and never calls ``tarfile.extract``. Links, devices, absolute names and
``..`` cannot match a requested name, so nothing lands outside the data dir.

Tests exercise this path with an archive rebuilt from the real files: its md5 differs from the
official one, so they pass a :class:`~brittle.data.files.RemoteArchive` record that carries the
rebuilt archive's own checksum. Verification itself is never switched off; only the expected
digest comes from the caller, exactly as the official record supplies it for users.
"""

from __future__ import annotations

import json
import logging
import tarfile
import zlib
from collections.abc import Sequence
from pathlib import Path, PurePosixPath

from brittle.data.fetch import Staging, copy_hashing, download_to
from brittle.data.files import (
    RemoteArchive,
    RemoteFile,
    file_digests,
    manifest_path,
    mirror_url,
    mismatch,
    read_manifest,
)
from brittle.errors import DataError

log = logging.getLogger(__name__)


def fetch_archive(archive: RemoteArchive, members: Sequence[RemoteFile], data_dir: Path,
                  staging: Staging) -> None:
    """Download ``archive``, verify it, and stage the verified ``members`` for commit.

    The downloaded archive itself is a scratch file: it is deleted whatever happens.

    Raises:
        NetworkError: The download failed.
        DataError: The archive or a member fails its checksum, or a member is absent.

    Example:
        >>> with Staging(root) as st:  # doctest: +SKIP
        ...     fetch_archive(ARCHIVE, files, root, st)
        ...     st.commit()
    """
    url = mirror_url(archive.relpath) or archive.url
    tmp = staging.temp_for(data_dir / archive.relpath)
    digests = download_to(url, tmp, label=archive.relpath)
    bad = mismatch(digests, _checksum(archive))
    if bad:
        raise DataError(f"downloaded {archive.relpath} from {url} but it does not match its "
                        f"checksum ({bad}); nothing was kept in {data_dir}")
    _extract(tmp, archive, members, data_dir, staging)


def extract_members(path: Path, archive: RemoteArchive, members: Sequence[RemoteFile],
                    data_dir: Path, staging: Staging) -> None:
    """Verify an archive the user placed at ``path`` and stage ``members`` from it.

    The user's archive is never deleted or modified, even when it does not match.
    """
    bad = mismatch(file_digests(path), _checksum(archive))
    if bad:
        raise DataError(f"{path} does not match the official {archive.url} ({bad}); delete it "
                        f"or replace it with the official file")
    _extract(path, archive, members, data_dir, staging)


def _checksum(archive: RemoteArchive) -> tuple[str, str]:
    if archive.sha256 is not None:
        return "sha256", archive.sha256
    assert archive.md5 is not None
    return "md5", archive.md5


def _extract(path: Path, archive: RemoteArchive, members: Sequence[RemoteFile],
             data_dir: Path, staging: Staging) -> None:
    wanted = {archive.member_name(f.relpath): f for f in members}
    found: dict[str, str] = {}
    try:
        with tarfile.open(path, mode="r:*") as tar:
            for member in tar:
                name = str(PurePosixPath(member.name))  # drops "./" prefixes
                file = wanted.get(name)
                if file is None or name in found:
                    continue
                found[name] = _extract_one(tar, member, file, archive, data_dir, staging)
    except (tarfile.TarError, EOFError, zlib.error, OSError) as exc:
        raise DataError(f"cannot read archive {path}: {exc}") from None
    absent = sorted(set(wanted) - set(found))
    if absent:
        raise DataError(f"archive {archive.relpath} has no member {', '.join(absent)}; "
                        f"nothing was kept in {data_dir}")
    unvouched = {f.relpath: found[n] for n, f in wanted.items() if f.checksum is None}
    if unvouched:
        _stage_manifest(archive, unvouched, data_dir, staging)


def _extract_one(tar: tarfile.TarFile, member: tarfile.TarInfo, file: RemoteFile,
                 archive: RemoteArchive, data_dir: Path, staging: Staging) -> str:
    if not member.isfile():
        raise DataError(f"archive {archive.relpath}: member {member.name} is not a regular file; "
                        f"refusing it")
    src = tar.extractfile(member)
    assert src is not None  # regular files always have a stream
    target = data_dir / file.relpath
    tmp = staging.temp_for(target)
    with tmp.open("wb") as out:
        digests = copy_hashing(src, out, total=member.size, label=file.relpath)
    bad = mismatch(digests, file.checksum)
    if file.size is not None and member.size != file.size:
        bad = bad or f"size {member.size} bytes, expected {file.size}"
    if bad:
        raise DataError(f"archive {archive.relpath}: member {member.name} does not match its "
                        f"checksum ({bad}); nothing was kept in {data_dir}")
    staging.stage(tmp, target, digests)
    log.info("extracted %s from %s", file.relpath, archive.relpath)
    return digests[0]


def _stage_manifest(archive: RemoteArchive, sha256s: dict[str, str], data_dir: Path,
                    staging: Staging) -> None:
    path = manifest_path(archive, data_dir)
    entries = read_manifest(path)
    algo, digest = _checksum(archive)
    for relpath, sha in sha256s.items():
        entries[relpath] = {"sha256": sha, "archive": archive.relpath, "archive_url": archive.url,
                            f"archive_{algo}": digest}
    tmp = staging.temp_for(path)
    payload = {"about": "sha256 of files brittle extracted from verified archives",
               "files": entries}
    tmp.write_text(json.dumps(payload, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    staging.stage(tmp, path)
