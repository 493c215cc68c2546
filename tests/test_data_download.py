"""Downloads for real, over HTTP on 127.0.0.1, from a server holding the real files.

Covers: a mirror into an empty data dir; a server serving a corrupted copy (nothing is kept);
a server that is down or answers 404 (one-line error naming file, URL and directory); and the
CIFAR-10 archive path (verify the archive, extract only the expected members, verify them).

The CIFAR-10 archive used here is rebuilt from the real ``.bin`` files, so its md5 is not the
official one. The tests pass a ``RemoteArchive`` record with the rebuilt archive's own md5 (and
a local URL); the same code then verifies it exactly as it verifies the official archive for
users. One test checks that the official md5 refuses the rebuilt archive.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import io
import shutil
import socket
import tarfile
import threading
from collections.abc import Iterator
from dataclasses import replace
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from brittle import data
from brittle.data.cifar10 import ARCHIVE, CIFAR10
from brittle.data.fetch import ensure_files
from brittle.data.files import MANIFEST_NAME, RemoteFile, check_file
from brittle.errors import DataError

MNIST_TEST = ["mnist/t10k-images-idx3-ubyte.gz", "mnist/t10k-labels-idx1-ubyte.gz"]
CIFAR_DIR = "cifar10/cifar-10-batches-bin"
MEMBERS = ["test_batch.bin", "data_batch_1.bin", "data_batch_2.bin", "batches.meta.txt"]
TEST_MEMBERS = ["test_batch.bin", "batches.meta.txt"]  # enough for the test split


class _QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        pass


@contextlib.contextmanager
def serve(root: Path) -> Iterator[str]:
    """An HTTP server on 127.0.0.1 (free port) serving ``root``; yields its base URL."""
    handler = functools.partial(_QuietHandler, directory=str(root))
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


@pytest.fixture(autouse=True)
def _local_only(monkeypatch: pytest.MonkeyPatch) -> None:
    for var in ("BRITTLE_MIRROR", "http_proxy", "HTTP_PROXY", "https_proxy", "HTTPS_PROXY",
                "all_proxy", "ALL_PROXY"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")


def everything_in(folder: Path) -> list[str]:
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*")) if folder.exists() else []


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# ---------------------------------------------------------------------------- per-file mirror


def test_mirror_download_into_empty_dir(data_dir: Path, tmp_path: Path,
                                        monkeypatch: pytest.MonkeyPatch) -> None:
    target = tmp_path / "data"
    with serve(data_dir) as url:
        monkeypatch.setenv("BRITTLE_MIRROR", url)
        ds = data.load("mnist", "test", data_dir=target)
        paths = data.download("kmnist", data_dir=target, splits=["test"])
    assert len(ds) == 10000 and ds.class_counts()[1] == 1135
    assert [p.name for p in paths] == ["kmnist-test-imgs.npz", "kmnist-test-labels.npz"]
    assert everything_in(target) == sorted(["kmnist", "kmnist/kmnist-test-imgs.npz",
                                            "kmnist/kmnist-test-labels.npz", "mnist",
                                            *MNIST_TEST])
    for rel in MNIST_TEST:
        assert (target / rel).read_bytes() == (data_dir / rel).read_bytes()
    monkeypatch.delenv("BRITTLE_MIRROR")  # now fully offline: the files are there and verify
    assert {s.status for s in data.verify("mnist", data_dir=target, splits=["test"])} == {"ok"}
    assert len(data.load("kmnist", "test", data_dir=target, download=False)) == 10000


def test_corrupted_server_copy_keeps_nothing(data_dir: Path, tmp_path: Path,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    served, target = tmp_path / "served", tmp_path / "data"
    (served / "mnist").mkdir(parents=True)
    target.mkdir()
    for rel in MNIST_TEST:
        shutil.copyfile(data_dir / rel, served / rel)
    bad = bytearray((served / MNIST_TEST[0]).read_bytes())
    bad[5000] ^= 0x01
    (served / MNIST_TEST[0]).write_bytes(bytes(bad))
    with serve(served) as url:
        monkeypatch.setenv("BRITTLE_MIRROR", url)
        with pytest.raises(DataError, match=r"t10k-images-idx3-ubyte\.gz .* does not match") as e:
            data.load("mnist", "test", data_dir=target)
    assert "\n" not in str(e.value) and "nothing was kept" in str(e.value)
    assert everything_in(target) == []  # not even the good labels file, nor any temp file


def test_server_down_is_one_line_naming_file_url_dir(tmp_path: Path,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    base = f"http://127.0.0.1:{free_port()}"
    monkeypatch.setenv("BRITTLE_MIRROR", base)
    target = tmp_path / "data"
    with pytest.raises(DataError) as err:
        data.load("mnist", "test", data_dir=target)
    msg = str(err.value)
    assert "\n" not in msg and "download failed" in msg
    assert f"{base}/mnist/t10k-images-idx3-ubyte.gz" in msg
    assert f"{base}/mnist/t10k-labels-idx1-ubyte.gz" in msg
    assert f"put them in {target / 'mnist'}" in msg
    assert not target.exists()


def test_404_is_one_line_naming_file_url_dir(tmp_path: Path,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "empty").mkdir()
    target = tmp_path / "data"
    with serve(tmp_path / "empty") as url:
        monkeypatch.setenv("BRITTLE_MIRROR", url)
        with pytest.raises(DataError, match="HTTP 404") as err:
            data.load("kmnist", "test", data_dir=target)
    msg = str(err.value)
    assert "\n" not in msg and f"{url}/kmnist/kmnist-test-imgs.npz" in msg
    assert f"put them in {target / 'kmnist'}" in msg
    assert everything_in(target) == []


# ---------------------------------------------------------------------------- CIFAR archive


def build_archive(src: Path, dest: Path, *, members: list[str] = MEMBERS,
                  flip: str | None = None, extra: dict[str, tarfile.TarInfo] | None = None) -> str:
    """Write a ``cifar-10-binary.tar.gz`` of the real files to ``dest``; return its md5."""
    # Still a gzip archive; level 0 (stored blocks) keeps the tests fast.
    with tarfile.open(dest, "w:gz", compresslevel=0) as tar:
        for name in members:
            payload = bytearray((src / name).read_bytes())
            if name == flip:
                payload[3073 * 7 + 100] ^= 0xFF
            info = tarfile.TarInfo(f"cifar-10-batches-bin/{name}")
            info.size = len(payload)
            tar.addfile(info, io.BytesIO(bytes(payload)))
        for info in (extra or {}).values():
            tar.addfile(info, io.BytesIO(b"x" * info.size) if info.isfile() else None)
    return hashlib.md5(dest.read_bytes()).hexdigest()


@pytest.fixture(scope="module")
def archive(data_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    folder = tmp_path_factory.mktemp("archive")
    md5 = build_archive(data_dir / CIFAR_DIR, folder / "cifar-10-binary.tar.gz")
    return folder, md5


def test_cifar_archive_download_extract_verify(archive: tuple[Path, str],
                                               tmp_path: Path) -> None:
    folder, md5 = archive
    with serve(folder) as url:
        record = replace(ARCHIVE, url=f"{url}/cifar-10-binary.tar.gz", md5=md5)
        src = CIFAR10(archive=record)
        test = src.load("test", data_dir=tmp_path)
        train = src.load("train", data_dir=tmp_path, batches=(1, 2))
    assert test.class_counts().tolist() == [1000] * 10
    assert len(train) == 20000 and train.meta["batches"] == [1, 2]
    # Only the requested members were extracted, and the downloaded archive was not kept.
    assert everything_in(tmp_path) == ["cifar10", "cifar10/cifar-10-batches-bin",
                                       *sorted(f"{CIFAR_DIR}/{m}" for m in MEMBERS)]
    assert {s.status for s in data.verify("cifar10", data_dir=tmp_path, splits=["test"])} == {
        "ok"}


def test_official_md5_refuses_a_rebuilt_archive(archive: tuple[Path, str],
                                                tmp_path: Path) -> None:
    folder, _ = archive
    with serve(folder) as url:
        src = CIFAR10(archive=replace(ARCHIVE, url=f"{url}/cifar-10-binary.tar.gz"))
        with pytest.raises(DataError, match=r"tar\.gz .*\(md5 \w+\.\.\. expected c32a1d4ab5d0"):
            src.load("test", data_dir=tmp_path)
    assert everything_in(tmp_path) == []


def test_tampered_member_is_refused(data_dir: Path, tmp_path: Path) -> None:
    served = tmp_path / "served"
    served.mkdir()
    md5 = build_archive(data_dir / CIFAR_DIR, served / "cifar-10-binary.tar.gz",
                        members=TEST_MEMBERS, flip="test_batch.bin")
    target = tmp_path / "data"
    with serve(served) as url:
        src = CIFAR10(archive=replace(ARCHIVE, url=f"{url}/cifar-10-binary.tar.gz", md5=md5))
        with pytest.raises(DataError, match=r"member cifar-10-batches-bin/test_batch\.bin .*"
                                            r"sha256"):
            src.load("test", data_dir=target)
    assert everything_in(target) == []


def test_unsafe_members_are_never_written(data_dir: Path, tmp_path: Path) -> None:
    outside = tmp_path / "escape.txt"
    evil = tarfile.TarInfo("../../escape.txt")
    evil.size = 4
    absolute = tarfile.TarInfo(str(tmp_path / "absolute.txt"))
    absolute.size = 4
    user_dir = tmp_path / "user"
    user_dir.mkdir()
    placed = user_dir / "cifar10/cifar-10-binary.tar.gz"
    placed.parent.mkdir()
    md5 = build_archive(data_dir / CIFAR_DIR, placed, members=TEST_MEMBERS,
                        extra={"a": evil, "b": absolute})
    # A user-placed archive is used offline; the odd members are simply never extracted.
    src = CIFAR10(archive=replace(ARCHIVE, md5=md5))
    assert len(src.load("test", data_dir=user_dir, download=False)) == 10000
    assert not outside.exists() and not (tmp_path / "absolute.txt").exists()
    assert placed.exists()  # the user's archive is theirs: kept
    # A link where a data file should be is refused outright.
    link_dir = tmp_path / "links"
    (link_dir / "cifar10").mkdir(parents=True)
    with tarfile.open(link_dir / "cifar10/cifar-10-binary.tar.gz", "w:gz") as tar:
        link = tarfile.TarInfo("cifar-10-batches-bin/test_batch.bin")
        link.type, link.linkname = tarfile.SYMTYPE, "/etc/passwd"
        tar.addfile(link)
    md5 = hashlib.md5((link_dir / "cifar10/cifar-10-binary.tar.gz").read_bytes()).hexdigest()
    src = CIFAR10(archive=replace(ARCHIVE, md5=md5))
    with pytest.raises(DataError, match="not a regular file"):
        src.load("test", data_dir=link_dir, download=False)
    assert not (link_dir / CIFAR_DIR).exists()


def test_member_without_checksum_is_recorded_then_verified(
        archive: tuple[Path, str], data_dir: Path, tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    # Like data_batch_3..5: no checksum of its own, so only the verified archive vouches for it;
    # through a mirror brittle fetches the archive ({mirror}/cifar10/...tar.gz), not the file.
    folder, md5 = archive
    mirror = tmp_path / "mirror"
    (mirror / "cifar10").mkdir(parents=True)
    shutil.copyfile(folder / "cifar-10-binary.tar.gz", mirror / "cifar10/cifar-10-binary.tar.gz")
    record = replace(ARCHIVE, md5=md5)
    file = RemoteFile(f"{CIFAR_DIR}/data_batch_2.bin", None, archive=record)
    target = tmp_path / "data"
    with serve(mirror) as url:
        monkeypatch.setenv("BRITTLE_MIRROR", url)
        (status,) = ensure_files([file], target, download=True, what="test")
    assert status.status == "ok"
    assert (target / "cifar10" / MANIFEST_NAME).is_file()
    assert not (target / "cifar10/cifar-10-binary.tar.gz").exists()
    extracted = target / file.relpath
    assert extracted.read_bytes() == (data_dir / file.relpath).read_bytes()
    raw = bytearray(extracted.read_bytes())
    raw[42] ^= 0xFF
    extracted.write_bytes(bytes(raw))
    assert check_file(file, target).status == "corrupt"
