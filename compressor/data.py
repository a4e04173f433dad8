"""In-memory datasets with fixed train/validation/test splits.

Dataset plugins return a :class:`DataBundle`: three tensor splits, already normalized, with
what is needed to describe the input (shape, normalization, class names). Small, real datasets
fit in memory, and batching tensors by index is many times faster than a per-sample
``DataLoader`` on a 2-core machine.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field

import torch


@dataclass
class Split:
    """One split: inputs ``x`` (N, *input_shape), float32, normalized; labels ``y`` (N,), int64."""

    x: torch.Tensor
    y: torch.Tensor

    def __post_init__(self) -> None:
        if len(self.x) != len(self.y):
            raise ValueError(f"split has {len(self.x)} inputs but {len(self.y)} labels")

    def __len__(self) -> int:
        return len(self.y)


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


def iterate_batches(
    split: Split,
    batch_size: int,
    *,
    shuffle: bool = False,
    generator: torch.Generator | None = None,
) -> Iterator[tuple[torch.Tensor, torch.Tensor, torch.Tensor]]:
    """Yield ``(indices, x, y)`` batches of ``split``; ``indices`` index into the split.

    The indices let a caller look up per-sample values computed once, such as cached teacher
    outputs.
    """
    n = len(split)
    order = torch.randperm(n, generator=generator) if shuffle else torch.arange(n)
    for start in range(0, n, batch_size):
        idx = order[start : start + batch_size]
        yield idx, split.x[idx], split.y[idx]


def num_batches(n: int, batch_size: int) -> int:
    """How many batches :func:`iterate_batches` yields for ``n`` samples."""
    return (n + batch_size - 1) // batch_size


def split_indices(n: int, fractions: Sequence[float], seed: int) -> list[torch.Tensor]:
    """Shuffle ``range(n)`` with ``seed`` and cut it into parts of the given fractions.

    The last part takes the remainder, so ``split_indices(n, [0.7, 0.15, 0.15], 0)`` covers
    every index exactly once. The same ``n`` and ``seed`` always give the same split.
    """
    generator = torch.Generator().manual_seed(seed)
    order = torch.randperm(n, generator=generator)
    parts: list[torch.Tensor] = []
    start = 0
    for i, fraction in enumerate(fractions):
        end = n if i == len(fractions) - 1 else start + round(n * fraction)
        parts.append(order[start:end])
        start = end
    return parts


def stratified_split_indices(
    labels: torch.Tensor, fractions: Sequence[float], seed: int
) -> list[torch.Tensor]:
    """Like :func:`split_indices`, but each part keeps the class proportions of ``labels``."""
    parts: list[list[torch.Tensor]] = [[] for _ in fractions]
    for cls in torch.unique(labels).tolist():
        members = torch.nonzero(labels == cls).flatten()
        for i, chunk in enumerate(split_indices(len(members), fractions, seed + int(cls))):
            parts[i].append(members[chunk])
    generator = torch.Generator().manual_seed(seed)
    merged = [torch.cat(p) for p in parts]
    return [m[torch.randperm(len(m), generator=generator)] for m in merged]
