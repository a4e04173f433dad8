"""The bundle a dataset plugin returns: three splits and what describes their inputs."""

from __future__ import annotations

from dataclasses import dataclass, field

import torch

from compressor.data.audio import AudioPreprocessing
from compressor.data.memory import Placement
from compressor.data.preprocess import Preprocessing
from compressor.data.split import DataSplit, head


@dataclass
class DataBundle:
    """A dataset ready for training: three splits and what describes them.

    A dataset plugin gives each split as a :class:`~compressor.data.Split` (normalized tensors,
    as the built-in datasets do) or as any map-style ``torch.utils.data.Dataset`` of
    ``(sample, label)`` pairs; the run then wraps it into a
    :class:`~compressor.data.StreamedSplit` with the recipe's ``data.preprocess``, fills
    ``input_shape``, ``mean`` and ``std`` from it, and decides whether to hold it in memory
    (:func:`compressor.data.prepare_bundle`). Type checkers see the splits as
    :class:`~compressor.data.DataSplit`; a plugin returning datasets says so with
    ``typing.cast``.

    Attributes:
        name: The dataset's registered name.
        train: Training split.
        val: Validation split (model selection, progress display).
        test: Held-out test split (the figures in the report).
        num_classes: Number of classes.
        input_shape: Shape of one input, e.g. ``(1, 8, 8)``; for datasets of samples, empty
            until the run preprocesses the first one.
        mean: Per-channel mean that was subtracted (in the 0..1 pixel scale). For datasets of
            samples: what to normalize with unless ``data.preprocess`` says (e.g. known
            ImageNet statistics).
        std: Per-channel standard deviation that was divided by.
        class_names: One name per class.
        preprocessing: How a raw sample becomes an input, for deployment to repeat: an image
            :class:`~compressor.data.Preprocessing` (by default normalization alone, with
            ``mean`` and ``std``), or an :class:`~compressor.data.audio.AudioPreprocessing`
            (an audio dataset's suggested rate and clip length; ``data.preprocess`` overrides).
        placement: Whether the run holds the splits in memory and why (set by the run).
        details: What the plugin reports about its data for ``metrics.json`` (e.g.
            ``{"skipped_unreadable": 2}``), shown beside the description.
        task: The task the targets are for (a registered task name); the run sets the task
            it serves (the dataset's declared one, or the recipe's ``task:``).
        modality: What a sample is: ``image`` or ``audio``; it decides the preprocessing, what
            an exported file records and how ``compressor predict`` reads an input.
    """

    name: str
    train: DataSplit
    val: DataSplit
    test: DataSplit
    num_classes: int
    input_shape: tuple[int, ...] = ()
    mean: tuple[float, ...] = (0.0,)
    std: tuple[float, ...] = (1.0,)
    class_names: list[str] = field(default_factory=list)
    preprocessing: Preprocessing | AudioPreprocessing | None = None
    placement: Placement | None = None
    details: dict[str, object] = field(default_factory=dict)
    task: str = "classification"
    modality: str = "image"

    def __post_init__(self) -> None:
        if self.preprocessing is None and self.modality == "image":
            self.preprocessing = Preprocessing(mean=tuple(self.mean), std=tuple(self.std))

    def split(self, name: str) -> DataSplit:
        """Return the split called ``train``, ``val`` or ``test``."""
        if name not in ("train", "val", "test"):
            raise ValueError(f"unknown split {name!r}; valid choices: train, val, test")
        split: DataSplit = getattr(self, name)
        return split

    def example_inputs(self, batch_size: int = 1) -> torch.Tensor:
        """The first ``batch_size`` test inputs: real data for tracing and parity checks."""
        return head(self.test, batch_size)

    def describe(self) -> dict[str, object]:
        """A JSON-ready summary for metrics and model metadata."""
        described: dict[str, object] = {
            "dataset": self.name,
            "input_shape": list(self.input_shape),
            "num_classes": self.num_classes,
            "sizes": {"train": len(self.train), "val": len(self.val), "test": len(self.test)},
            "mean": list(self.mean),
            "std": list(self.std),
        }
        if self.preprocessing is not None:
            described["preprocessing"] = self.preprocessing.describe()
        if self.placement is not None:
            described["in_memory"] = self.placement.in_memory
            described["loading"] = self.placement.describe()
        described.update(self.details)
        return described
