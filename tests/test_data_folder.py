"""``folder:PATH`` on PNGs written from real MNIST test images, and each of its errors."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from brittle import data
from brittle.errors import DataError

PER_CLASS = 6


@pytest.fixture(scope="module")
def mnist_test(data_dir: Path) -> data.ImageDataset:
    return data.load("mnist", "test", data_dir=data_dir, download=False)


def pick(ds: data.ImageDataset) -> list[int]:
    """The first ``PER_CLASS`` indices of each class, in class order."""
    return [i for c in range(10) for i in torch.nonzero(ds.labels == c).flatten()[:PER_CLASS]
            .tolist()]


def write_pngs(ds: data.ImageDataset, root: Path, names: tuple[str, ...]) -> list[int]:
    """Write real images as ``root/<class name>/<index>.png`` (lossless); return the indices."""
    chosen = pick(ds)
    for i in chosen:
        folder = root / names[int(ds.labels[i])]
        folder.mkdir(parents=True, exist_ok=True)
        Image.fromarray(ds.images[i, 0].numpy(), mode="L").save(folder / f"{i:05d}.png")
    return chosen


@pytest.fixture
def png_root(mnist_test: data.ImageDataset, tmp_path: Path) -> Path:
    root = tmp_path / "digits"
    write_pngs(mnist_test, root, tuple(f"digit-{c}" for c in range(10)))
    return root


def test_folder_loads_real_pngs_exactly(mnist_test: data.ImageDataset, png_root: Path) -> None:
    (png_root / ".DS_Store").write_bytes(b"junk")  # hidden and non-image files are ignored
    (png_root / "digit-3" / "notes.txt").write_text("not an image")
    ds = data.load(f"folder:{png_root}")
    chosen = pick(mnist_test)  # class folders sort like the digits, files by index
    assert ds.class_names == tuple(f"digit-{c}" for c in range(10))
    assert tuple(ds.images.shape) == (10 * PER_CLASS, 1, 28, 28)
    assert ds.images.dtype == torch.uint8 and ds.labels.dtype == torch.int64
    assert torch.equal(ds.images, mnist_test.images[chosen])  # PNG is lossless
    assert ds.labels.tolist() == mnist_test.labels[chosen].tolist()
    assert ds.class_counts().tolist() == [PER_CLASS] * 10
    assert ds.meta["source"] == f"folder:{png_root}" and ds.meta["images"] == 10 * PER_CLASS
    assert ds.meta["content_sha256"] == data.load(f"folder:{png_root}").meta["content_sha256"]
    src = data.source(f"folder:{png_root}")
    x = ds.images.double() / 255
    assert src.input_shape == (1, 28, 28) and src.splits == ("test",)
    assert src.mean[0] == pytest.approx(x.mean().item())
    assert src.std[0] == pytest.approx(x.std(unbiased=False).item())


def test_folder_resize_and_channels(png_root: Path) -> None:
    small = data.load(f"folder:{png_root}", size=(14, 12))
    assert tuple(small.images.shape) == (60, 1, 14, 12)
    rgb = data.load(f"folder:{png_root}", channels=3)
    assert tuple(rgb.images.shape) == (60, 3, 28, 28)
    assert torch.equal(rgb.images[:, 0], rgb.images[:, 2])
    with pytest.raises(DataError, match="channels must be 1, 3"):
        data.load(f"folder:{png_root}", channels=2)
    with pytest.raises(DataError, match="size must be"):
        data.load(f"folder:{png_root}", size=(0, 5))
    with pytest.raises(DataError, match="no split 'train'"):
        data.load(f"folder:{png_root}", "train")


def test_folder_with_train_and_test_splits(mnist_test: data.ImageDataset, tmp_path: Path) -> None:
    names = tuple(str(c) for c in range(10))
    write_pngs(mnist_test, tmp_path / "train", names)
    write_pngs(mnist_test.subset(indices=range(5000, 10000)), tmp_path / "test", names)
    train, test = (data.load(f"folder:{tmp_path}", s) for s in ("train", "test"))
    assert len(train) == len(test) == 60 and not torch.equal(train.images, test.images)
    shutil.rmtree(tmp_path / "test" / "7")
    with pytest.raises(DataError, match=r"class folders of .* differ"):
        data.load(f"folder:{tmp_path}", "test")


def test_folder_missing_and_without_classes(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="no such folder"):
        data.load(f"folder:{tmp_path / 'nope'}")
    (tmp_path / "loose.png").write_bytes(b"")
    with pytest.raises(DataError, match="no class sub-folders"):
        data.load(f"folder:{tmp_path}")


def test_folder_empty_class(png_root: Path) -> None:
    (png_root / "digit-99").mkdir()
    with pytest.raises(DataError, match="digit-99 has no PNG or JPEG images"):
        data.load(f"folder:{png_root}")


def test_folder_corrupt_images_are_named(png_root: Path) -> None:
    (png_root / "digit-4" / "garbage.png").write_bytes(b"\x89PNG not really")
    with pytest.raises(DataError, match=r"cannot read image digit-4/garbage\.png") as err:
        data.load(f"folder:{png_root}")
    assert "\n" not in str(err.value)
    (png_root / "digit-4" / "garbage.png").unlink()
    good = next((png_root / "digit-5").iterdir())
    good.write_bytes(good.read_bytes()[:120])  # a real PNG cut short: header fine, pixels gone
    with pytest.raises(DataError, match=f"image digit-5/{good.name}"):
        data.load(f"folder:{png_root}")


def test_folder_mixed_modes_and_sizes(png_root: Path) -> None:
    gray = sorted((png_root / "digit-2").iterdir())[0]
    rgb = png_root / "digit-2" / "zz-color.png"
    Image.open(gray).convert("RGB").save(rgb)
    with pytest.raises(DataError, match=r"mixed grayscale and color .*zz-color\.png is RGB"):
        data.load(f"folder:{png_root}")
    assert len(data.load(f"folder:{png_root}", channels=1)) == 61
    rgb.unlink()
    Image.open(gray).resize((20, 20)).save(png_root / "digit-2" / "zz-small.png")
    with pytest.raises(DataError, match=r"differ in size .*zz-small\.png is \(20, 20\)"):
        data.load(f"folder:{png_root}")
    assert tuple(data.load(f"folder:{png_root}", size=28).images.shape) == (61, 1, 28, 28)


def test_folder_refuses_links_out_of_the_folder(png_root: Path, tmp_path: Path) -> None:
    outside = tmp_path / "outside.png"
    Image.fromarray(np.zeros((28, 28), dtype=np.uint8)).save(outside)
    inside = sorted((png_root / "digit-1").iterdir())[0]
    os.symlink(inside, png_root / "digit-1" / "zz-inside-link.png")  # inside: fine
    assert len(data.load(f"folder:{png_root}")) == 61
    os.symlink(outside, png_root / "digit-1" / "zz-escape.png")
    with pytest.raises(DataError, match="outside the folder"):
        data.load(f"folder:{png_root}")
    (png_root / "digit-1" / "zz-escape.png").unlink()
    os.symlink(tmp_path, png_root / "zz-class-link")
    with pytest.raises(DataError, match="outside the folder"):
        data.load(f"folder:{png_root}")
