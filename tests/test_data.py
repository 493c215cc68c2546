"""Dataset sources on the real files: shapes, ranges, class counts, checksums, subsets."""

from __future__ import annotations

import gzip
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from brittle import data
from brittle.data.cifar10 import read_batch
from brittle.data.digits import split_indices
from brittle.data.files import RemoteFile, check_file, mirror_url, resolve_data_dir
from brittle.data.idx import IMAGES_MAGIC, LABELS_MAGIC, read_idx
from brittle.errors import BrittleError, DataError

MNIST_TEST = [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]
MNIST_TRAIN = [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]
CIFAR_BATCH1 = [1005, 974, 1032, 1016, 999, 937, 1030, 1001, 1025, 981]
CIFAR_BATCH2 = [984, 1007, 1010, 995, 1010, 988, 1008, 1026, 987, 985]

# (name, split, options, shape, class counts) straight from ../shared/data/README.md
CASES = [
    ("mnist", "test", {}, (10000, 1, 28, 28), MNIST_TEST),
    ("mnist", "train", {}, (60000, 1, 28, 28), MNIST_TRAIN),
    ("fashion-mnist", "test", {}, (10000, 1, 28, 28), [1000] * 10),
    ("fashion-mnist", "train", {}, (60000, 1, 28, 28), [6000] * 10),
    ("kmnist", "test", {}, (10000, 1, 28, 28), [1000] * 10),
    ("cifar10", "test", {}, (10000, 3, 32, 32), [1000] * 10),
    ("cifar10", "train", {"batches": (1, 2)}, (20000, 3, 32, 32),
     [a + b for a, b in zip(CIFAR_BATCH1, CIFAR_BATCH2, strict=True)]),
    ("cifar10", "train", {"batches": (2,)}, (10000, 3, 32, 32), CIFAR_BATCH2),
]


@pytest.fixture(autouse=True)
def _no_mirror(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("BRITTLE_MIRROR", raising=False)


def sha256sums(data_dir: Path) -> dict[str, str]:
    lines = (data_dir / "SHA256SUMS").read_text().splitlines()
    return {rel: digest for digest, rel in (line.split() for line in lines if line.strip())}


def copy_files(data_dir: Path, dest: Path, *relpaths: str) -> None:
    for rel in relpaths:
        (dest / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(data_dir / rel, dest / rel)


def flip_byte(path: Path, offset: int = 1000) -> None:
    raw = bytearray(path.read_bytes())
    raw[offset] ^= 0xFF
    path.write_bytes(bytes(raw))


# ---------------------------------------------------------------------------- registry


@pytest.mark.parametrize("name", data.names())
def test_every_source_describes_itself(name: str) -> None:
    src = data.source(name)
    c, h, w = src.input_shape
    assert src.name == name and src.description
    assert len(src.class_names) == 10 and len(set(src.class_names)) == 10
    assert len(src.mean) == len(src.std) == c and h > 0 and w > 0
    assert all(0 < m < 1 for m in src.mean) and all(0 < s < 1 for s in src.std)
    assert set(src.splits) == {"train", "test"}
    for split in src.splits:
        for f in src.files(split):
            assert f.checksum is not None or f.archive is not None


def test_names_and_errors() -> None:
    assert data.names() == ["cifar10", "digits", "fashion-mnist", "kmnist", "mnist"]
    with pytest.raises(BrittleError, match="known: cifar10, digits, fashion-mnist"):
        data.load("svhn")
    with pytest.raises(DataError, match="no split 'val'"):
        data.load("digits", "val")
    with pytest.raises(DataError, match="no option colour"):
        data.load("digits", colour=True)
    with pytest.raises(DataError, match="train split only"):
        data.load("cifar10", "test", batches=(1,))
    for bad in ((), (0,), (1, 1), (6,)):
        with pytest.raises(DataError, match="batches must be"):
            data.source("cifar10").files("train", batches=bad)


# ---------------------------------------------------------------------------- real data


@pytest.mark.parametrize(("name", "split", "options", "shape", "counts"), CASES,
                         ids=[f"{c[0]}-{c[1]}-{c[3][0]}" for c in CASES])
def test_source_loads_real_data(data_dir: Path, name: str, split: str, options: dict[str, object],
                                shape: tuple[int, ...], counts: list[int]) -> None:
    ds = data.load(name, split, data_dir=data_dir, download=False, **options)
    assert tuple(ds.images.shape) == shape
    assert ds.images.dtype == torch.uint8 and ds.labels.dtype == torch.int64
    assert ds.class_counts().tolist() == counts
    assert ds.input_shape == data.source(name).input_shape
    assert ds.class_names == data.source(name).class_names
    x, _ = ds[0]
    assert x.dtype == torch.float32 and x.min() >= 0.0 and x.max() <= 1.0 and x.max() > 0.5
    known = sha256sums(data_dir)
    assert ds.meta["source"] == name and ds.meta["split"] == split
    assert ds.meta["files"] and all(v["sha256"] == known[rel]
                                    for rel, v in ds.meta["files"].items())


def test_known_first_labels_and_channel_order(data_dir: Path) -> None:
    mnist = data.load("mnist", "test", data_dir=data_dir, download=False)
    assert mnist.labels[:5].tolist() == [7, 2, 1, 0, 4]
    cifar = data.load("cifar10", "test", data_dir=data_dir, download=False)
    assert cifar.labels[:4].tolist() == [3, 8, 8, 0]  # cat, ship, ship, airplane
    # The README's test-set channel means: wrong plane order would swap R and B.
    mean = cifar.tensors()[0].mean(dim=(0, 2, 3))
    assert torch.allclose(mean, torch.tensor([0.4942, 0.4851, 0.4504]), atol=1e-3)
    train = data.load("cifar10", "train", data_dir=data_dir, download=False, batches=(1, 2))
    assert train.meta["batches"] == [1, 2]
    assert torch.allclose(train.tensors()[0].mean(dim=(0, 2, 3)),
                          torch.tensor(data.source("cifar10").mean), atol=0.01)


def test_digits_is_embedded_fixed_and_stratified() -> None:
    from sklearn.datasets import load_digits

    test = data.load("digits", "test", data_dir="/nonexistent", download=False)
    train = data.load("digits", "train")
    assert tuple(test.images.shape) == (450, 1, 28, 28) and test.images.dtype == torch.float32
    assert len(train) == 1347 and test.meta["files"] == {}
    assert float(test.images.min()) >= 0.0 and float(test.images.max()) <= 1.0
    y = load_digits().target
    idx = split_indices(y)
    assert np.intersect1d(idx["train"], idx["test"]).size == 0
    assert np.union1d(idx["train"], idx["test"]).size == len(y)
    # Stratified: every class keeps its share of the test split to within one image.
    share = np.bincount(y) * 0.25
    assert np.all(np.abs(test.class_counts().numpy() - share) <= 1)
    # Fixed: the same split and pixels every time, computed as documented.
    again = data.load("digits", "test")
    assert torch.equal(test.images, again.images) and torch.equal(test.labels, again.labels)
    first = torch.from_numpy(load_digits().images[idx["test"][0]] / 16.0).float()[None, None]
    expect = F.interpolate(first, size=(28, 28), mode="bilinear", align_corners=False)
    assert torch.allclose(test.images[:1], expect)
    # The hard-coded normalization is that of the train split.
    x = train.images.double()
    assert abs(x.mean().item() - data.source("digits").mean[0]) < 5e-4
    assert abs(x.std(unbiased=False).item() - data.source("digits").std[0]) < 5e-4


# ---------------------------------------------------------------------------- checksums


def test_corrupt_copy_is_refused_and_left_alone(data_dir: Path, tmp_path: Path) -> None:
    rels = ["mnist/t10k-images-idx3-ubyte.gz", "mnist/t10k-labels-idx1-ubyte.gz"]
    copy_files(data_dir, tmp_path, *rels)
    assert len(data.load("mnist", "test", data_dir=tmp_path, download=False)) == 10000
    flip_byte(tmp_path / rels[0])
    before = (tmp_path / rels[0]).read_bytes()
    for download in (False, True):  # even with download on, a corrupt file is never replaced
        with pytest.raises(DataError, match=r"t10k-images-idx3-ubyte\.gz is corrupt") as err:
            data.load("mnist", "test", data_dir=tmp_path, download=download)
        assert "\n" not in str(err.value) and "sha256" in str(err.value)
    assert (tmp_path / rels[0]).read_bytes() == before


def test_verify_reports_ok_missing_corrupt(data_dir: Path, tmp_path: Path) -> None:
    copy_files(data_dir, tmp_path, "kmnist/kmnist-test-imgs.npz", "kmnist/kmnist-test-labels.npz")
    labels = tmp_path / "kmnist/kmnist-test-labels.npz"
    labels.write_bytes(labels.read_bytes()[:-10])  # truncated: wrong size
    status = {s.relpath: s for s in data.verify("kmnist", data_dir=tmp_path)}
    assert status["kmnist/kmnist-test-imgs.npz"].status == "ok"
    assert status["kmnist/kmnist-test-labels.npz"].status == "corrupt"
    assert status["kmnist/kmnist-train-imgs.npz"].status == "missing"
    assert status["kmnist/kmnist-train-imgs.npz"].url.startswith("http://codh.rois.ac.jp/")
    assert status["kmnist/kmnist-train-imgs.npz"].path == tmp_path / "kmnist/kmnist-train-imgs.npz"
    assert [s.status for s in data.verify("kmnist", data_dir=tmp_path, splits=["test"])] == [
        "ok", "corrupt"]
    # A flipped byte at the right size is caught by the checksum, not the size.
    copy_files(data_dir, tmp_path, "kmnist/kmnist-test-labels.npz")
    flip_byte(tmp_path / "kmnist/kmnist-test-labels.npz", offset=100)
    (bad,) = [s for s in data.verify("kmnist", data_dir=tmp_path, splits=["test"])
              if s.status != "ok"]
    assert "sha256" in bad.detail


def test_md5_only_files_are_verified_by_md5(data_dir: Path, tmp_path: Path) -> None:
    # Like the KMNIST train files, which only have a published md5: the official MNIST md5.
    rel = "mnist/t10k-labels-idx1-ubyte.gz"
    record = RemoteFile(rel, "https://example.org/x", md5="ec29112dd5afa0611ce80d1b7f02629c")
    assert check_file(record, data_dir).status == "ok"
    copy_files(data_dir, tmp_path, rel)
    flip_byte(tmp_path / rel, offset=10)
    status = check_file(record, tmp_path)
    assert status.status == "corrupt" and status.detail.startswith("md5")


def test_shared_data_verifies(data_dir: Path) -> None:
    for name in ("mnist", "fashion-mnist"):
        assert {s.status for s in data.verify(name, data_dir=data_dir)} == {"ok"}
    cifar = {Path(s.relpath).name: s.status for s in data.verify("cifar10", data_dir=data_dir)}
    assert cifar["test_batch.bin"] == cifar["data_batch_2.bin"] == "ok"
    assert cifar["data_batch_3.bin"] == "missing"


def test_missing_files_without_download_name_url_and_dir(data_dir: Path) -> None:
    with pytest.raises(DataError) as err:
        data.load("kmnist", "train", data_dir=data_dir, download=False)
    msg = str(err.value)
    assert "\n" not in msg and "kmnist/kmnist-train-imgs.npz" in msg
    assert "http://codh.rois.ac.jp/kmnist/dataset/kmnist/kmnist-train-imgs.npz" in msg
    assert f"put them in {data_dir / 'kmnist'}" in msg
    with pytest.raises(DataError, match=r"cifar-10-binary\.tar\.gz from https://www\.cs\.toronto"):
        data.load("cifar10", "train", data_dir=data_dir, download=False)


def test_cifar_batch_without_checksum_is_unverified(data_dir: Path, tmp_path: Path) -> None:
    # A hand-placed batch 3 has no published checksum and no extraction record: refused.
    folder = tmp_path / "cifar10/cifar-10-batches-bin"
    folder.mkdir(parents=True)
    shutil.copyfile(data_dir / "cifar10/cifar-10-batches-bin/data_batch_1.bin",
                    folder / "data_batch_3.bin")
    (status,) = [s for s in data.verify("cifar10", data_dir=tmp_path)
                 if s.relpath.endswith("data_batch_3.bin")]
    assert status.status == "unverified"
    with pytest.raises(DataError, match=r"data_batch_3\.bin is unverified"):
        data.load("cifar10", "train", data_dir=tmp_path, download=False, batches=(3,))


# ---------------------------------------------------------------------------- readers


def test_idx_reader_rejects_malformed_files(data_dir: Path, tmp_path: Path) -> None:
    raw = gzip.decompress((data_dir / "mnist/t10k-labels-idx1-ubyte.gz").read_bytes())
    assert read_idx(data_dir / "mnist/t10k-labels-idx1-ubyte.gz", magic=LABELS_MAGIC).shape == (
        10000,)
    cases = {"magic": b"\x00\x00\x08\x03" + raw[4:], "short": raw[:-1], "tiny": raw[:2]}
    for kind, payload in cases.items():
        path = tmp_path / f"{kind}.gz"
        path.write_bytes(gzip.compress(payload))
        with pytest.raises(DataError, match=f"{kind}.gz"):
            read_idx(path, magic=LABELS_MAGIC)
    (tmp_path / "plain.gz").write_bytes(raw)
    with pytest.raises(DataError, match="not a readable gzip"):
        read_idx(tmp_path / "plain.gz", magic=IMAGES_MAGIC)


def test_cifar_reader_rejects_partial_records(data_dir: Path, tmp_path: Path) -> None:
    path = tmp_path / "cut.bin"
    path.write_bytes((data_dir / "cifar10/cifar-10-batches-bin/test_batch.bin").read_bytes()[:5000])
    with pytest.raises(DataError, match="3073-byte"):
        read_batch(path)


# ---------------------------------------------------------------------------- subsets


def test_subset_by_n_is_deterministic_per_seed(data_dir: Path) -> None:
    ds = data.load("mnist", "test", data_dir=data_dir, download=False)
    a, b, c = ds.subset(100, seed=1), ds.subset(100, seed=1), ds.subset(100, seed=2)
    assert len(a) == 100 and torch.equal(a.images, b.images) and torch.equal(a.labels, b.labels)
    assert not torch.equal(a.images, c.images)
    assert a.meta["subset_of"] == 10000 and a.meta["source"] == "mnist"
    with pytest.raises(DataError):
        ds.subset(10001)


def test_subset_by_indices(data_dir: Path) -> None:
    ds = data.load("kmnist", "test", data_dir=data_dir, download=False)
    sub = ds.subset(indices=[5, 0, 9999])
    assert torch.equal(sub.images, ds.images[[5, 0, 9999]])
    assert sub.labels.tolist() == ds.labels[[5, 0, 9999]].tolist()
    with pytest.raises(DataError, match="out of range"):
        ds.subset(indices=[10000])


# ---------------------------------------------------------------------------- settings


def test_resolve_data_dir_precedence(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("BRITTLE_DATA", str(tmp_path / "env"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert resolve_data_dir(tmp_path / "explicit") == tmp_path / "explicit"
    assert resolve_data_dir() == tmp_path / "env"
    monkeypatch.delenv("BRITTLE_DATA")
    assert resolve_data_dir() == tmp_path / "xdg/brittle/data"
    monkeypatch.delenv("XDG_CACHE_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert resolve_data_dir() == tmp_path / "home/.cache/brittle/data"


def test_mirror_url_and_record_validation(monkeypatch: pytest.MonkeyPatch) -> None:
    assert mirror_url("mnist/a.gz") is None
    monkeypatch.setenv("BRITTLE_MIRROR", "http://127.0.0.1:9/base/")
    assert mirror_url("mnist/a.gz") == "http://127.0.0.1:9/base/mnist/a.gz"
    with pytest.raises(ValueError, match="relative"):
        RemoteFile("../evil", "http://x/evil", sha256="0" * 64)
    with pytest.raises(ValueError, match="hex"):
        RemoteFile("a/b", "http://x/b", sha256="ABC")
    with pytest.raises(ValueError, match="checksum"):
        RemoteFile("a/b", "http://x/b")
