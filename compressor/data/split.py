"""The in-memory split, the protocol every split follows, and the batch helpers consumers use.

A split is a map-style :class:`torch.utils.data.Dataset` of ``(input, label)`` pairs that also
knows its labels, the shape of one input, and how to serve batches. Two kinds exist:
:class:`Split`, normalized tensors held in memory (the fast path: a batch is one tensor index,
many times faster than a per-sample ``DataLoader`` on a 2-core machine), and
:class:`~compressor.data.streamed.StreamedSplit`, samples decoded batch by batch in
``DataLoader`` worker processes. Consumers read neither's storage; they use :class:`DataSplit`
and the helpers here: :func:`batches` (``(indices, x, y)`` batches, shuffled or in order or in
a given order) and :func:`head` (the first inputs as one tensor).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

import numpy as np
import torch
from torch.utils.data import Dataset

#: One batch: the rows it holds (indices into the split), their inputs and their labels.
Batch = tuple[torch.Tensor, torch.Tensor, torch.Tensor]


@runtime_checkable
class DataSplit(Protocol):
    """What every split offers its consumers: its size, labels, input shape and batches.

    :class:`Split` and :class:`~compressor.data.streamed.StreamedSplit` implement it; code that
    trains, evaluates or calibrates on a split uses only this (and :func:`batches`,
    :func:`head`), so it works on both paths.
    """

    def __len__(self) -> int: ...

    @property
    def labels(self) -> torch.Tensor:
        """Every label, ``(N,)`` int64, known without decoding a sample."""
        ...

    @property
    def input_shape(self) -> tuple[int, ...]:
        """The shape of one input, e.g. ``(1, 28, 28)``."""
        ...

    def take(self, indices: torch.Tensor) -> torch.Tensor:
        """The inputs of rows ``indices``, stacked, in this process."""
        ...

    def batches(
        self,
        batch_size: int,
        *,
        shuffle: bool = False,
        generator: torch.Generator | None = None,
        order: torch.Tensor | Sequence[int] | None = None,
        device: str | None = None,
    ) -> Iterator[Batch]:
        """``(indices, x, y)`` batches; see :func:`batches`."""
        ...


def batch_order(
    n: int,
    *,
    shuffle: bool,
    generator: torch.Generator | None,
    order: torch.Tensor | Sequence[int] | None,
) -> torch.Tensor:
    """The rows of one pass over ``n`` samples, in the order they are served.

    Args:
        n: Samples in the split.
        shuffle: Draw a permutation with ``generator`` (``torch.randperm``: one draw per pass,
            the same on both paths for the same generator state).
        generator: Seeds the permutation.
        order: The rows to serve, as given (a shard, a sample); excludes ``shuffle``.

    Raises:
        ValueError: Both ``shuffle`` and ``order`` were given.
    """
    if order is not None:
        if shuffle:
            raise ValueError("give either shuffle or order, not both")
        return torch.as_tensor(order, dtype=torch.long)
    return torch.randperm(n, generator=generator) if shuffle else torch.arange(n)


@dataclass
class Split(Dataset[tuple[torch.Tensor, torch.Tensor]]):
    """One split in memory: inputs ``x`` (N, *input_shape), float32, normalized; labels ``y``
    (N,), int64. Item ``i`` is ``(x[i], y[i])``."""

    x: torch.Tensor
    y: torch.Tensor

    def __post_init__(self) -> None:
        if len(self.x) != len(self.y):
            raise ValueError(f"split has {len(self.x)} inputs but {len(self.y)} labels")

    def __len__(self) -> int:
        return len(self.y)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        return self.x[index], self.y[index]

    @property
    def labels(self) -> torch.Tensor:
        """The labels ``y``."""
        return self.y

    @property
    def input_shape(self) -> tuple[int, ...]:
        """``x.shape[1:]``."""
        return tuple(self.x.shape[1:])

    def take(self, indices: torch.Tensor) -> torch.Tensor:
        """``x[indices]``."""
        return self.x[indices]

    def batches(
        self,
        batch_size: int,
        *,
        shuffle: bool = False,
        generator: torch.Generator | None = None,
        order: torch.Tensor | Sequence[int] | None = None,
        device: str | None = None,
    ) -> Iterator[Batch]:
        """``(indices, x, y)`` batches by tensor indexing (``device`` is not needed here)."""
        del device  # the tensors are already where they are; callers move batches
        rows = batch_order(len(self), shuffle=shuffle, generator=generator, order=order)
        for start in range(0, len(rows), batch_size):
            idx = rows[start : start + batch_size]
            yield idx, self.x[idx], self.y[idx]


def batches(
    split: DataSplit,
    batch_size: int,
    *,
    shuffle: bool = False,
    generator: torch.Generator | None = None,
    order: torch.Tensor | Sequence[int] | None = None,
    device: str | None = None,
) -> Iterator[Batch]:
    """Yield ``(indices, x, y)`` batches of ``split``; ``indices`` index into the split.

    The indices let a caller look up per-sample values computed once, such as cached teacher
    outputs. Both kinds of split serve the same rows in the same batches for the same
    arguments, so a seed gives the same training on either path.

    Args:
        split: The split.
        batch_size: Rows per batch (the last may be smaller).
        shuffle: A new permutation per call, drawn from ``generator`` when the first batch is
            asked for (in order otherwise).
        generator: Seeds the permutation.
        order: Serve exactly these rows, in this order (a torchrun shard, a calibration
            sample); excludes ``shuffle``.
        device: Where the batches will be used: a streamed split pins its batches' memory for a
            CUDA device. Batches are not moved; the caller moves them.

    Returns:
        An iterator over the pass; a streamed split's workers load ahead while it is consumed.
    """
    return split.batches(
        batch_size, shuffle=shuffle, generator=generator, order=order, device=device
    )


def iterate_batches(
    split: DataSplit,
    batch_size: int,
    *,
    shuffle: bool = False,
    generator: torch.Generator | None = None,
) -> Iterator[Batch]:
    """The name :func:`batches` had before streamed splits (kept for plugins that use it)."""
    return batches(split, batch_size, shuffle=shuffle, generator=generator)


def head(split: DataSplit, n: int) -> torch.Tensor:
    """The first ``n`` inputs of ``split`` (fewer when it is smaller), as one new tensor.

    Real inputs for tracing, probes, parity checks and timing batches; decoded in this
    process, so it costs ``n`` samples and no worker start.
    """
    return split.take(torch.arange(min(n, len(split))))


def num_batches(n: int, batch_size: int) -> int:
    """How many batches :func:`batches` yields for ``n`` samples."""
    return (n + batch_size - 1) // batch_size


class NumpyRows:
    """A split's inputs as float32 numpy rows, decoded when indexed: ``rows[indices]``.

    For code written against an array of inputs (onnxruntime calibration readers): it reads
    only the rows it asks for, on either path.
    """

    def __init__(self, split: DataSplit) -> None:
        self.split = split

    def __len__(self) -> int:
        return len(self.split)

    def __getitem__(self, indices: Any) -> np.ndarray:
        rows = torch.as_tensor(np.asarray(indices), dtype=torch.long)
        return self.split.take(rows).detach().cpu().numpy().astype(np.float32, copy=False)
