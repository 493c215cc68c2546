"""The :class:`Classifier` wrapper: one object that carries a model and the facts about it."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import torch
from torch import nn

from brittle.errors import ModelError


class Classifier(nn.Module):
    """Wrap any ``nn.Module`` so that it takes images in ``bounds`` and returns logits.

    The classifier owns normalization (``mean``/``std`` per channel, applied inside
    :meth:`forward`), the input bounds, the input shape ``(C, H, W)``, the class names and named
    feature layers. Attacks and metrics therefore always work in pixel space.

    On the CPU, a network with ``nn.Conv2d`` layers gets its input in the channels-last memory
    layout: oneDNN's convolutions run faster on it (an attack step 1.4-1.6x on LeNet-5 and 1.2x
    on ResNet-20, a training step 1.1-1.2x and 1.2-1.3x; docs/benchmarks.md). The values are the
    same; only rounding may differ. A network that cannot take such input (a ``.view`` that
    assumes the default strides) is detected with one small forward pass when wrapped and keeps
    the default layout.

    Feature layers are module paths from ``named_modules()``; ``"path:input"`` takes the module's
    input instead of its output. Two aliases are always available: ``penultimate`` (the input of
    the last ``nn.Linear``) and ``last_conv`` (the output of the last ``nn.Conv2d``).

    Args:
        model: The network; it receives normalized images and returns logits ``(N, K)``.
        input_shape: ``(C, H, W)`` of one image.
        num_classes: Number of logits; inferred with one forward pass if omitted.
        mean: Per-channel mean subtracted before the model (``None``: no normalization).
        std: Per-channel standard deviation divided out before the model.
        bounds: The valid pixel range, ``(0, 1)`` by default.
        class_names: Names of the classes, ``str(i)`` by default.
        feature_layers: Extra aliases, name to module path.
        card: Free-form facts (architecture, recipe, ...) saved with checkpoints.
        channels_last: Give the network channels-last input on the CPU (``None``: if it has
            convolutions and accepts such input).

    Example:
        >>> net = nn.Sequential(nn.Flatten(), nn.Linear(784, 10))
        >>> clf = Classifier(net, input_shape=(1, 28, 28), mean=(0.1307,), std=(0.3081,))
        >>> clf(torch.rand(2, 1, 28, 28)).shape
        torch.Size([2, 10])
    """

    mean: torch.Tensor
    std: torch.Tensor

    def __init__(self, model: nn.Module, *, input_shape: Sequence[int],
                 num_classes: int | None = None, mean: Sequence[float] | None = None,
                 std: Sequence[float] | None = None, bounds: tuple[float, float] = (0.0, 1.0),
                 class_names: Sequence[str] | None = None,
                 feature_layers: Mapping[str, str] | None = None,
                 card: Mapping[str, Any] | None = None,
                 channels_last: bool | None = None) -> None:
        super().__init__()
        if len(input_shape) != 3:
            raise ModelError(f"input_shape must be (C, H, W), got {tuple(input_shape)}")
        self.model = model
        self.input_shape: tuple[int, int, int] = tuple(int(s) for s in input_shape)  # type: ignore[assignment]
        channels = self.input_shape[0]
        self.register_buffer("mean", _channel_vector(mean, 0.0, channels, "mean"))
        self.register_buffer("std", _channel_vector(std, 1.0, channels, "std"))
        if torch.any(self.std <= 0):
            raise ModelError("std must be positive")
        if not bounds[0] < bounds[1]:
            raise ModelError(f"bounds must be (low, high) with low < high, got {bounds}")
        self.bounds = (float(bounds[0]), float(bounds[1]))
        self.normalize = mean is not None or std is not None
        self.channels_last = False
        self.num_classes = num_classes if num_classes is not None else self._infer_num_classes()
        names = (list(class_names) if class_names is not None
                 else [str(i) for i in range(self.num_classes)])
        if len(names) != self.num_classes:
            raise ModelError(f"{len(names)} class names for a model with "
                             f"{self.num_classes} outputs")
        self.class_names = tuple(names)
        self.feature_layers = dict(feature_layers or {})
        self.card: dict[str, Any] = dict(card or {})
        self.channels_last = (channels_last if channels_last is not None
                              else self._takes_channels_last())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Logits ``(N, K)`` for images ``x`` of shape ``(N, C, H, W)`` in ``bounds``."""
        if self.channels_last and x.device.type == "cpu":
            x = _in_channels_last(x)
        if self.normalize:
            x = (x - self.mean[None, :, None, None]) / self.std[None, :, None, None]
        return self.model(x)

    def twin(self, network: nn.Module | None = None, **changes: Any) -> Classifier:
        """A classifier with this one's facts (normalization, bounds, names, feature layers,
        card, layout) around ``network``, by default the same one (weights shared), with
        ``changes`` to any constructor argument, e.g. ``channels_last=False``."""
        facts: dict[str, Any] = {
            "input_shape": self.input_shape, "num_classes": self.num_classes,
            "mean": self.mean.tolist() if self.normalize else None,
            "std": self.std.tolist() if self.normalize else None, "bounds": self.bounds,
            "class_names": self.class_names, "feature_layers": self.feature_layers,
            "card": self.card, "channels_last": self.channels_last}
        return Classifier(self.model if network is None else network, **{**facts, **changes})

    @property
    def device(self) -> torch.device:
        for tensor in self.parameters():
            return tensor.device
        return self.mean.device

    def check_input(self, x: torch.Tensor) -> None:
        """Raise a one-line :class:`ModelError` unless ``x`` is a float ``(N, C, H, W)`` batch of
        this classifier's shape."""
        if x.ndim != 4 or tuple(x.shape[1:]) != self.input_shape:
            shape = ", ".join(map(str, self.input_shape))
            raise ModelError(f"model expects images of shape (N, {shape}), got {tuple(x.shape)}")
        if not x.is_floating_point():
            raise ModelError(f"images must be floating point in {self.bounds}, got {x.dtype}")

    @contextlib.contextmanager
    def evaluating(self) -> Iterator[Classifier]:
        """Put every submodule in eval mode, and restore each one's own mode afterwards."""
        modes = [(m, m.training) for m in self.modules()]
        self.eval()
        try:
            yield self
        finally:
            for module, mode in modes:
                module.training = mode

    @torch.no_grad()
    def predict_logits(self, x: torch.Tensor, *, batch_size: int = 512) -> torch.Tensor:
        """Logits for ``x`` in eval mode, in batches, on the classifier's device (returned there).
        """
        self.check_input(x)
        with self.evaluating():
            chunks = [self(x[i:i + batch_size].to(self.device))
                      for i in range(0, len(x), batch_size)]
        return torch.cat(chunks) if chunks else torch.empty(0, self.num_classes, device=self.device)

    def features(self, x: torch.Tensor, layers: Sequence[str]) -> dict[str, torch.Tensor]:
        """Run one forward pass and return the activations of the named ``layers``.

        Returns a dict from each requested name to its activation (unflattened), plus
        ``"logits"``. Gradients flow unless called under ``torch.no_grad()``.
        """
        captured: dict[str, torch.Tensor] = {}
        handles = []
        modules = dict(self.model.named_modules())
        try:
            for name in layers:
                path, take_input = self._resolve_layer(name)
                if path not in modules:
                    known = ", ".join(m for m in modules if m)
                    raise ModelError(f"no layer {path!r}; layers: {known}")
                hook = _capture(captured, name, take_input)
                handles.append(modules[path].register_forward_hook(hook))
            captured["logits"] = self(x)
        finally:
            for handle in handles:
                handle.remove()
        return captured

    def _resolve_layer(self, name: str) -> tuple[str, bool]:
        spec = self.feature_layers.get(name) or self._default_aliases().get(name) or name
        path, _, part = spec.partition(":")
        return path, part == "input"

    def _default_aliases(self) -> dict[str, str]:
        aliases: dict[str, str] = {}
        for path, module in self.model.named_modules():
            if isinstance(module, nn.Linear):
                aliases["penultimate"] = f"{path}:input"
            elif isinstance(module, nn.Conv2d):
                aliases["last_conv"] = path
        return aliases

    def _probe(self, n: int) -> torch.Tensor:
        """A batch of ``n`` mid-grey images on the network's device."""
        probe = torch.full((n, *self.input_shape), 0.5, device=self.mean.device)
        for tensor in self.model.parameters():
            return probe.to(tensor.device)
        return probe

    def _takes_channels_last(self) -> bool:
        """Whether the network has convolutions and runs on channels-last input."""
        if not any(isinstance(m, nn.Conv2d) for m in self.model.modules()):
            return False
        with self.evaluating(), torch.no_grad():
            try:
                self(_in_channels_last(self._probe(2)))
            # any failure keeps the default layout: x.view(len(x), -1) after a convolution fails
            # here, and a network that fails on grey images shows its own error on real ones
            except Exception:
                return False
        return True

    def _infer_num_classes(self) -> int:
        probe = self._probe(1)
        with self.evaluating(), torch.no_grad():
            try:
                out = self(probe)
            except RuntimeError as exc:
                raise ModelError(f"model does not accept inputs of shape {self.input_shape}: "
                                 f"{str(exc).splitlines()[0]}") from None
        if out.ndim != 2:
            raise ModelError(f"model must return logits (N, K), got shape {tuple(out.shape)}")
        return int(out.shape[1])


def as_classifier(model: nn.Module | Classifier, **facts: Any) -> Classifier:
    """Return ``model`` if it is already a :class:`Classifier`, else wrap it with ``facts``."""
    if isinstance(model, Classifier):
        return model
    if "input_shape" not in facts:
        raise ModelError("a bare nn.Module needs input_shape=(C, H, W) to become a Classifier")
    return Classifier(model, **facts)


def _in_channels_last(x: torch.Tensor) -> torch.Tensor:
    """``x`` ``(N, C, H, W)`` with channels-last strides (a differentiable copy unless it has them).

    ``Tensor.contiguous(memory_format=torch.channels_last)`` leaves a one-channel batch as it is,
    since its strides fit both layouts; oneDNN then still picks the default layout, whose input
    gradient of a one-channel convolution is several times slower.
    """
    if x.stride(1) == 1:
        return x
    out = torch.empty_like(x, memory_format=torch.channels_last)
    return out.copy_(x)


def _channel_vector(values: Sequence[float] | None, default: float, channels: int,
                    what: str) -> torch.Tensor:
    if values is None:
        return torch.full((channels,), default)
    vec = torch.as_tensor(list(values), dtype=torch.float32).flatten()
    if vec.numel() == 1:
        vec = vec.expand(channels).clone()
    if vec.numel() != channels:
        raise ModelError(f"{what} has {vec.numel()} values for {channels} channels")
    return vec


def _capture(store: dict[str, torch.Tensor], name: str, take_input: bool) -> Any:
    def hook(module: nn.Module, inputs: tuple[torch.Tensor, ...], output: torch.Tensor) -> None:
        store[name] = inputs[0] if take_input else output
    return hook
