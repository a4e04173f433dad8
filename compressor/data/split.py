"""The in-memory split: normalized input tensors and their labels, batched by index.

Small, real datasets fit in memory, and batching tensors by index is many times faster than a
per-sample ``DataLoader`` on a 2-core machine.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

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
