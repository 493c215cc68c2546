"""Feature extraction: logits and named layers of a classifier in one forward pass per batch."""

from __future__ import annotations

from collections.abc import Sequence

import torch

from brittle._utils.progress import progress
from brittle.models.classifier import Classifier
from brittle.ood.base import Features
from brittle.ood.functional import flatten_activation

ALIASES = ("last_conv", "penultimate")


def extract_features(classifier: Classifier, x: torch.Tensor, layers: Sequence[str], *,
                     batch_size: int = 512, show_progress: bool | None = None) -> Features:
    """Logits and the activations of ``layers`` for images ``x``, flattened, on the CPU.

    One forward pass per batch through :meth:`Classifier.features`, without gradients and in
    eval mode (the user's train/eval modes are restored afterwards). Convolutional maps
    ``(N, C, H, W)`` are global-average-pooled to ``(N, C)``; other activations are flattened
    to ``(N, D)``. ``"logits"`` is always returned (asking for it in ``layers`` is allowed).

    Args:
        classifier: The model; ``layers`` are its aliases (``"penultimate"``, ``"last_conv"``)
            or module paths (``"path:input"`` for a module's input).
        x: Images ``(N, C, H, W)`` in the classifier's bounds.
        layers: Names of the feature layers to capture.
        batch_size: Images per forward pass.
        show_progress: Progress bar (``None``: only on a terminal).

    Returns:
        ``{"logits": (N, K), layer: (N, D), ...}``, float32 on the CPU.

    Example:
        >>> from torch import nn
        >>> net = nn.Sequential(nn.Flatten(), nn.Linear(4, 3), nn.ReLU(), nn.Linear(3, 2))
        >>> clf = Classifier(net, input_shape=(1, 2, 2))
        >>> feats = extract_features(clf, torch.rand(5, 1, 2, 2), ["penultimate"])
        >>> {k: tuple(v.shape) for k, v in feats.items()}
        {'logits': (5, 2), 'penultimate': (5, 3)}
    """
    classifier.check_input(x)
    wanted = list(dict.fromkeys(name for name in layers if name != "logits"))
    chunks: dict[str, list[torch.Tensor]] = {name: [] for name in ["logits", *wanted]}
    starts = range(0, len(x), max(1, batch_size))
    with classifier.evaluating(), torch.no_grad():
        for start in progress(starts, enabled=show_progress, desc="features"):
            batch = x[start:start + batch_size].to(classifier.device)
            out = classifier.features(batch, wanted)
            for name, store in chunks.items():
                store.append(flatten_activation(out[name]).to("cpu", torch.float32))
    if not len(x):
        probe = extract_features(classifier, torch.zeros(1, *classifier.input_shape), wanted)
        return {name: t[:0] for name, t in probe.items()}
    return {name: torch.cat(store) for name, store in chunks.items()}


def available_layers(classifier: Classifier) -> tuple[str, ...]:
    """The aliases this classifier exposes, among ``("last_conv", "penultimate")``, plus its
    own ``feature_layers``: a safe default of ``layers=`` for the multi-layer ``deep_knn``.

    Example:
        >>> from torch import nn
        >>> clf = Classifier(nn.Sequential(nn.Flatten(), nn.Linear(4, 2)), input_shape=(1, 2, 2))
        >>> available_layers(clf)
        ('penultimate',)
    """
    found = []
    for name in ALIASES:
        path, _ = classifier._resolve_layer(name)
        if path in dict(classifier.model.named_modules()) and path != name:
            found.append(name)
    return (*found, *(n for n in classifier.feature_layers if n not in found))
