"""The optional ``compile=True`` path: the attacked network compiled with ``torch.compile``.

An attack spends nearly all its time in the network's forward and input-gradient passes, so
compiling the network (operator fusion, and eval-mode batch norm folded into the convolution
before it) speeds every attack up without touching the attack code. Compiling costs tens of
seconds up front, so it pays off on large evaluations, not on a handful of images.
"""

from __future__ import annotations

import weakref
from typing import Any, cast

import torch
from torch import nn

from brittle.models.classifier import Classifier

# One compiled twin per network, so the batches of one evaluation (and later evaluations of
# the same model) reuse the compiled code instead of compiling again.
_TWINS: weakref.WeakKeyDictionary[nn.Module, Classifier] = weakref.WeakKeyDictionary()

# Inductor's conv + eval-mode batch-norm pass for graphs that need gradients: the attack needs
# input gradients, so the inference-only folding (freezing) never applies. It computes each
# convolution with the batch norm's scale and shift folded into its weights, so the backward
# pass skips the batch norm (ResNet-20 PGD on the CPU: 3-8% faster than without it).
_DEFAULT_OPTIONS = {"efficient_conv_bn_eval_fx_passes": True}


def compiled_classifier(classifier: Classifier, **compile_options: Any) -> Classifier:
    """A :class:`Classifier` that shares ``classifier``'s weights and facts but runs its
    network through ``torch.compile`` (``compile_options`` are passed on; without a ``mode``,
    inductor ``options`` add to the conv + batch-norm folding pass).

    The twin is cached per network; results equal the eager ones up to float rounding.

    Example:
        >>> from brittle.models import build_classifier
        >>> clf = build_classifier("lenet5", input_shape=(1, 28, 28), num_classes=10)
        >>> fast = compiled_classifier(clf)  # compiles lazily, on the first call
        >>> fast.bounds == clf.bounds and fast.class_names == clf.class_names
        True
    """
    twin = _TWINS.get(classifier.model)
    if twin is None:
        if compile_options.get("mode") is None:  # torch.compile takes a mode or options
            compile_options["options"] = {**_DEFAULT_OPTIONS,
                                          **(compile_options.get("options") or {})}
        network = cast(nn.Module, torch.compile(classifier.model, **compile_options))
        twin = classifier.twin(network)  # the layout is copied, not probed: a probe compiles
        _TWINS[classifier.model] = twin.to(classifier.mean.device)
    return twin
