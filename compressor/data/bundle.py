"""The bundle a dataset plugin returns: three splits and what describes their inputs."""

from __future__ import annotations

from dataclasses import dataclass, field

import torch

from compressor.data.split import Split


@dataclass
class DataBundle:
    """A dataset ready for training: three splits and what describes them.

    Attributes:
        name: The dataset's registered name.
        train: Training split.
        val: Validation split (model selection, progress display).
        test: Held-out test split (the figures in the report).
        num_classes: Number of classes.
        input_shape: Shape of one input, e.g. ``(1, 8, 8)``.
        mean: Per-channel mean that was subtracted (in the 0..1 pixel scale).
        std: Per-channel standard deviation that was divided by.
        class_names: One name per class.
    """

    name: str
    train: Split
    val: Split
    test: Split
    num_classes: int
    input_shape: tuple[int, ...]
    mean: tuple[float, ...] = (0.0,)
    std: tuple[float, ...] = (1.0,)
    class_names: list[str] = field(default_factory=list)

    def split(self, name: str) -> Split:
        """Return the split called ``train``, ``val`` or ``test``."""
        if name not in ("train", "val", "test"):
            raise ValueError(f"unknown split {name!r}; valid choices: train, val, test")
        return getattr(self, name)

    def example_inputs(self, batch_size: int = 1) -> torch.Tensor:
        """The first ``batch_size`` test inputs: real data for tracing and parity checks."""
        return self.test.x[:batch_size].clone()

    def describe(self) -> dict[str, object]:
        """A JSON-ready summary for metrics and model metadata."""
        return {
            "dataset": self.name,
            "input_shape": list(self.input_shape),
            "num_classes": self.num_classes,
            "sizes": {"train": len(self.train), "val": len(self.val), "test": len(self.test)},
            "mean": list(self.mean),
            "std": list(self.std),
        }
