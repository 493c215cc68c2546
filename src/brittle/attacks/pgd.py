"""Projected gradient descent (Madry et al. 2018, "Towards Deep Learning Models Resistant to
Adversarial Attacks") for the Linf, L2 and L1 threat models, with random start and restarts."""

from __future__ import annotations

from brittle.attacks.iterative import IterativeAttack
from brittle.attacks.registry import ATTACKS


@ATTACKS.register("pgd")
class PGD(IterativeAttack):
    """PGD: repeated steepest-ascent steps on the loss, each projected back onto the eps ball.

    Example:
        >>> import torch
        >>> from torch import nn
        >>> from brittle.models import Classifier
        >>> clf = Classifier(nn.Sequential(nn.Flatten(), nn.Linear(4, 3)), input_shape=(1, 2, 2))
        >>> x, y = torch.rand(8, 1, 2, 2), torch.zeros(8, dtype=torch.long)
        >>> result = PGD(eps=0.1, steps=5)(clf, x, y)
        >>> bool(result.norms.max() <= 0.1 + 1e-6)
        True
    """

    name = "pgd"
