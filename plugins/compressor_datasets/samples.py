"""What the datasets of raw samples share: labels kept as numpy, channel conversion, splits.

``image_folder``, ``torchvision`` and ``import`` give the run map-style datasets of
``(sample, label)``; the run preprocesses them and streams or holds them in memory
(:func:`compressor.data.prepare_bundle`). This module wraps a dataset so that its labels are a
numpy ``targets`` array (the run then never decodes a sample to learn a label), converts PIL
images to the requested channels, cuts one dataset into stratified parts, and builds the bundle.
"""

from __future__ import annotations

from typing import Any, cast

import numpy as np
import torch
from torch.utils.data import Dataset, Subset

from compressor.data import DataBundle, DataSplit, labels_of, stratified_split_indices
from compressor.data.images import convert


class Labeled(Dataset[tuple[Any, int]]):
    """``dataset`` with its labels as a numpy ``targets`` array and images converted.

    Args:
        dataset: A map-style dataset of ``(sample, label)``.
        targets: Every label, in order; read from the dataset (decoding it when it has no
            ``targets``) when not given.
        channels: 3 or 1 converts PIL images to RGB or grey; ``None`` leaves samples alone.
    """

    def __init__(self, dataset: Any, targets: Any = None, *, channels: int | None = None) -> None:
        self.dataset = dataset
        if targets is None:
            targets = labels_of(dataset).numpy()
        self.targets = np.asarray(targets, dtype=np.int64).reshape(-1)
        if len(self.targets) != len(dataset):
            raise ValueError(f"{len(self.targets)} labels for {len(dataset)} samples")
        self.channels = channels

    def __len__(self) -> int:
        return len(self.targets)

    def __getitem__(self, index: int) -> tuple[Any, int]:
        item = self.dataset[int(index)]
        sample = item[0] if isinstance(item, (tuple, list)) else item
        if self.channels is not None and hasattr(sample, "getbands"):
            sample = convert(sample, self.channels)
        return sample, int(self.targets[index])

    def sample_name(self, index: int) -> str:
        """How errors name sample ``index``: its file when the wrapped dataset says (a
        ``sample_name`` method, or a torchvision-style ``samples`` list), else its class and
        index, such as ``CIFAR10 item 17``."""
        inner, position = self.dataset, int(index)
        if hasattr(inner, "sample_name"):
            return str(inner.sample_name(position))
        samples = getattr(inner, "samples", None)
        if isinstance(samples, (list, tuple)) and samples and isinstance(samples[0], tuple):
            return str(samples[position][0])
        return f"{type(inner).__name__} item {position}"


def stratified_parts(dataset: Any, fractions: list[float], seed: int) -> list[Subset[Any]]:
    """``dataset`` cut into parts of ``fractions`` that keep its class proportions.

    Args:
        dataset: A dataset whose labels are a numpy ``targets`` array (:class:`Labeled`,
            :class:`~compressor.data.images.ImageFiles`).
        fractions: One fraction per part; the last takes the rounding remainder.
        seed: The recipe's ``data.split_seed``: the same seed gives the same parts.

    Returns:
        One ``Subset`` per fraction, its indices a numpy array (no Python list per worker).
    """
    labels = torch.from_numpy(dataset.targets)
    parts = stratified_split_indices(labels, fractions, seed)
    return [Subset(dataset, cast(Any, part.numpy())) for part in parts]


def raw_bundle(
    name: str,
    splits: dict[str, Any],
    class_names: list[str],
    *,
    num_classes: int | None = None,
    details: dict[str, object] | None = None,
) -> DataBundle:
    """The bundle of three datasets of samples; the run fills shape and normalization.

    Args:
        name: The dataset's registered name.
        splits: ``train``, ``val`` and ``test`` datasets of ``(sample, label)``.
        class_names: One name per class.
        num_classes: The class count; ``len(class_names)`` by default.
        details: What ``metrics.json`` shows about the data besides its description (such as
            the count of files left out).
    """
    return DataBundle(
        name=name,
        train=cast(DataSplit, splits["train"]),
        val=cast(DataSplit, splits["val"]),
        test=cast(DataSplit, splits["test"]),
        num_classes=len(class_names) if num_classes is None else num_classes,
        class_names=list(class_names),
        details=dict(details or {}),
    )
