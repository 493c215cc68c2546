"""Shared fixtures of the attack tests: real MNIST slices and a tiny LeNet trained in seconds.

A plain module (not a conftest): test modules load it with ``pytest_plugins =
["attack_fixtures"]``. The trained weights are cached per process, so the model is trained once.
"""

from __future__ import annotations

import functools
import gzip
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from brittle.models.classifier import Classifier
from conftest import real_data_dir

MNIST_DIR = real_data_dir() / "mnist"
TRAIN_SIZE = 4000
SEED = 0


def _read_idx(path: Path, header: int) -> np.ndarray:
    with gzip.open(path, "rb") as fh:
        return np.frombuffer(fh.read(), dtype=np.uint8, offset=header)


@functools.lru_cache(maxsize=4)
def mnist(split: str = "t10k", n: int | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """The first ``n`` real MNIST images ``(n, 1, 28, 28)`` in [0, 1] and labels ``(n,)``."""
    images_path = MNIST_DIR / f"{split}-images-idx3-ubyte.gz"
    if not images_path.exists():
        pytest.skip(f"MNIST not found at {MNIST_DIR}")
    images = _read_idx(images_path, 16).reshape(-1, 1, 28, 28)
    labels = _read_idx(MNIST_DIR / f"{split}-labels-idx1-ubyte.gz", 8)
    if n is not None:
        images, labels = images[:n], labels[:n]
    x = torch.from_numpy(images.astype(np.float32) / 255.0)
    return x, torch.from_numpy(labels.astype(np.int64))


class TinyLeNet(nn.Sequential):
    """A LeNet-ish net small enough to train on CPU in a few seconds (about 30k weights)."""

    def __init__(self) -> None:
        super().__init__(
            nn.Conv2d(1, 8, 5, padding=2), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(8, 16, 5), nn.ReLU(), nn.MaxPool2d(2),
            nn.Flatten(), nn.Linear(16 * 5 * 5, 64), nn.ReLU(), nn.Linear(64, 10),
        )


@functools.lru_cache(maxsize=1)
def trained_state() -> dict[str, torch.Tensor]:
    """Weights of :class:`TinyLeNet` trained (seeded) on the first real MNIST training images."""
    x, y = mnist("train", TRAIN_SIZE)
    torch.manual_seed(SEED)
    net = TinyLeNet()
    opt = torch.optim.Adam(net.parameters(), lr=2e-3)
    gen = torch.Generator().manual_seed(SEED)
    net.train()
    for _ in range(4):
        order = torch.randperm(len(x), generator=gen)
        for start in range(0, len(x), 64):
            idx = order[start:start + 64]
            loss = nn.functional.cross_entropy(net(x[idx]), y[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
    return {k: v.detach().clone() for k, v in net.state_dict().items()}


def make_classifier(wrap: nn.Module | None = None, *, after: nn.Module | None = None) -> Classifier:
    """A fresh :class:`Classifier` around a trained TinyLeNet, in eval mode.

    ``wrap`` runs before the net (e.g. an input quantizer), ``after`` after it (e.g. a softmax).
    """
    net = TinyLeNet()
    net.load_state_dict(trained_state())
    parts = [m for m in (wrap, net, after) if m is not None]
    model = parts[0] if len(parts) == 1 else nn.Sequential(*parts)
    clf = Classifier(model, input_shape=(1, 28, 28), mean=(0.1307,), std=(0.3081,),
                     class_names=[str(i) for i in range(10)])
    return clf.eval()


@pytest.fixture(scope="session")
def mnist_clf() -> Classifier:
    """A trained TinyLeNet classifier (about 97% clean accuracy on MNIST test images)."""
    return make_classifier()


@pytest.fixture(scope="session")
def classifier_factory() -> Callable[..., Classifier]:
    """:func:`make_classifier`, for tests that wrap the trained net (quantizers, softmax)."""
    return make_classifier


@pytest.fixture(scope="session")
def mnist_test() -> tuple[torch.Tensor, torch.Tensor]:
    """The first 1000 real MNIST test images and labels."""
    return mnist("t10k", 1000)
