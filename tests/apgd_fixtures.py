"""Real MNIST and tiny seeded models for the APGD / FAB / Square / AutoAttack tests.

Reads the original IDX files from the real data directory (``$BRITTLE_DATA`` or
``../shared/data``, as every test) with gzip + numpy, independently of ``brittle.data``, and
trains, in seconds on a CPU, a small LeNet-like network: one undefended, and one with FGSM
adversarial training with a random start (Wong et al. 2020, "Fast is better than free:
revisiting adversarial training"), so that robust accuracy is neither 0 nor 100% and attack
strengths can be compared. Models are cached per process (every test module that imports these
fixtures shares one training run) and their weights on disk under the temp dir, keyed by this
file's text, the training settings, the torch version and the thread count, since training is
deterministic given those.
"""

from __future__ import annotations

import functools
import gzip
import hashlib
import os
import tempfile
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from safetensors.torch import load_file, save_file
from torch import nn

from brittle.models import Classifier
from conftest import real_data_dir

DATA_DIR = real_data_dir() / "mnist"
CACHE_DIR = Path(tempfile.gettempdir()) / "brittle-test-models"
MEAN, STD = (0.1307,), (0.3081,)


def _read_idx(name: str, header: int) -> np.ndarray:
    path = DATA_DIR / name
    if not path.exists():
        pytest.skip(f"real MNIST not found at {path}")
    with gzip.open(path, "rb") as f:
        return np.frombuffer(f.read(), dtype=np.uint8, offset=header)


@functools.lru_cache(maxsize=2)
def mnist(split: str) -> tuple[torch.Tensor, torch.Tensor]:
    """Images ``(N, 1, 28, 28)`` float in [0, 1] and labels ``(N,)`` int64 of ``train``/``t10k``."""
    images = _read_idx(f"{split}-images-idx3-ubyte.gz", 16).reshape(-1, 1, 28, 28)
    labels = _read_idx(f"{split}-labels-idx1-ubyte.gz", 8)
    x = torch.from_numpy(images.astype(np.float32) / 255.0)
    return x, torch.from_numpy(labels.astype(np.int64))


def lenet() -> nn.Module:
    return nn.Sequential(
        nn.Conv2d(1, 8, 5), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(8, 16, 5), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(), nn.Linear(256, 64), nn.ReLU(), nn.Linear(64, 10))


def _cached(*, n_train: int, epochs: int, fgsm_eps: float, seed: int) -> Classifier:
    """Load the trained weights from the disk cache, or train and store them."""
    # this file's text and the thread count are in the key: a cache left by other training
    # code, or by a float reduction order CI does not use, once hid a failure here
    key = (f"{hashlib.sha256(Path(__file__).read_bytes()).hexdigest()}-{n_train}-{epochs}-"
           f"{fgsm_eps}-{seed}-{torch.__version__}-{torch.get_num_threads()}")
    path = CACHE_DIR / f"lenet-{hashlib.sha256(key.encode()).hexdigest()[:16]}.safetensors"
    if path.exists():
        clf = Classifier(lenet(), input_shape=(1, 28, 28), mean=MEAN, std=STD)
        clf.load_state_dict(load_file(path))
        return clf.eval()
    clf = _train(n_train=n_train, epochs=epochs, fgsm_eps=fgsm_eps, seed=seed)
    CACHE_DIR.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(f".{os.getpid()}.tmp")
    save_file(clf.state_dict(), partial)
    partial.replace(path)  # atomic, so parallel workers never read half a file
    return clf


def _train(*, n_train: int, epochs: int, fgsm_eps: float, seed: int) -> Classifier:
    """Train on the first ``n_train`` real training images; FGSM-RS training if ``fgsm_eps``."""
    gen = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)
    x, y = mnist("train")
    x, y = x[:n_train], y[:n_train]
    clf = Classifier(lenet(), input_shape=(1, 28, 28), mean=MEAN, std=STD)
    opt = torch.optim.Adam(clf.parameters(), lr=2e-3)
    clf.train()
    for _ in range(epochs):
        order = torch.randperm(n_train, generator=gen)
        for start in range(0, n_train, 64):
            xb, yb = x[order[start:start + 64]], y[order[start:start + 64]]
            if fgsm_eps > 0:
                xb = _fgsm_rs(clf, xb, yb, fgsm_eps, gen)
            opt.zero_grad()
            F.cross_entropy(clf(xb), yb).backward()
            opt.step()
    return clf.eval()


def _fgsm_rs(clf: Classifier, x: torch.Tensor, y: torch.Tensor, eps: float,
             gen: torch.Generator) -> torch.Tensor:
    """FGSM from a uniform random start with step 1.25 * eps (Wong et al. 2020)."""
    delta = (torch.rand(x.shape, generator=gen) * 2 - 1) * eps
    delta.requires_grad_(True)
    loss = F.cross_entropy(clf((x + delta).clamp(0, 1)), y)
    (grad,) = torch.autograd.grad(loss, delta)
    delta = (delta + 1.25 * eps * grad.sign()).clamp(-eps, eps).detach()
    return (x + delta).clamp(0, 1)


@functools.lru_cache(maxsize=1)
def undefended_model() -> Classifier:
    """A LeNet trained normally on 4000 real MNIST images (about 92% test accuracy)."""
    return _cached(n_train=4000, epochs=2, fgsm_eps=0.0, seed=0)


@functools.lru_cache(maxsize=1)
def robust_model() -> Classifier:
    """A LeNet with fast adversarial training (FGSM-RS, eps 0.3, 2 epochs) on 6000 real MNIST
    images: about 93% clean and 40-45% robust accuracy at eps 0.2 (2% at 0.3)."""
    return _cached(n_train=6000, epochs=2, fgsm_eps=0.3, seed=0)


def mnist_test_batch(n: int, *, offset: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """The real MNIST test images ``offset .. offset + n``."""
    x, y = mnist("t10k")
    return x[offset:offset + n].clone(), y[offset:offset + n].clone()


def correct_batch(clf: Classifier, n: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The first ``n`` test images that ``clf`` classifies correctly."""
    x, y = mnist_test_batch(4 * n)
    keep = clf.predict_logits(x).argmax(1) == y
    return x[keep][:n], y[keep][:n]


@pytest.fixture(scope="session")
def mnist_model() -> Classifier:
    return undefended_model()


@pytest.fixture(scope="session")
def mnist_robust_model() -> Classifier:
    return robust_model()


class Counting(nn.Module):
    """Wraps a classifier and counts the images it is asked to classify."""

    def __init__(self, inner: nn.Module) -> None:
        super().__init__()
        self.inner = inner
        self.images = 0

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.images += len(x)
        return self.inner(x)
