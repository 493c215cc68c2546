"""What every command that runs a checkpoint on a dataset does first."""

from __future__ import annotations

import argparse

from brittle import data, models
from brittle._utils.devices import resolve_device
from brittle.data.base import ImageDataset
from brittle.evaluation import check_compatible
from brittle.models.classifier import Classifier


def checkpoint_and_data(args: argparse.Namespace) -> tuple[Classifier, ImageDataset]:
    """Load ``args.checkpoint`` and the ``args.data`` split (a seeded subset of ``args.n``),
    refusing a dataset that does not fit the model."""
    clf = models.load_classifier(args.checkpoint, map_location=resolve_device(args.device))
    dataset = data.load(args.data, args.split, data_dir=args.data_dir)
    if args.n is not None:
        dataset = dataset.subset(args.n, seed=args.seed)
    check_compatible(clf, dataset)
    return clf, dataset
