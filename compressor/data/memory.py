"""Whether a dataset is held in memory: sizes, the budget, the worker count, the copy.

``data.in_memory: auto`` holds the splits as tensors (:class:`~compressor.data.split.Split`,
the fast path) when their decoded size, ``N * prod(input_shape) * 4`` bytes summed over the
three splits, fits ``data.memory_budget``; otherwise batches stream through ``DataLoader``
workers. The default budget is a quarter of the machine's memory, at most 4 GiB: the run
keeps room for the models, optimizer state, teacher outputs and the workers, and decoding
more than a few GiB up front takes minutes before the first step, which streaming spends
while training instead.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

import torch

from compressor.data.split import DataSplit, Split

GIB = 1 << 30
#: The default budget's share of the machine's memory, and its cap.
BUDGET_FRACTION = 0.25
BUDGET_CAP = 4 * GIB
#: When the machine's memory cannot be read.
BUDGET_FALLBACK = 2 * GIB
#: At most this many workers by default: measured, more gained nothing on the streamed
#: benchmark (docs/data.md), and each one holds a prefetched batch or two.
MAX_DEFAULT_WORKERS = 4
#: Samples per batch when a streamed split is copied into memory.
MATERIALIZE_BATCH = 256


def physical_memory() -> int | None:
    """The machine's memory in bytes, or ``None`` where the system does not say."""
    try:
        return int(os.sysconf("SC_PAGE_SIZE")) * int(os.sysconf("SC_PHYS_PAGES"))
    except (AttributeError, ValueError, OSError):
        return None


def default_budget() -> int:
    """A quarter of the machine's memory, at most 4 GiB (2 GiB when unknown)."""
    total = physical_memory()
    return BUDGET_FALLBACK if total is None else min(int(total * BUDGET_FRACTION), BUDGET_CAP)


def available_cores() -> int:
    """The cores this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def default_workers() -> int:
    """Workers per process: one core is left to the training process, shared by torchrun's
    local processes; at most :data:`MAX_DEFAULT_WORKERS`, and 0 when no core is spare."""
    local = max(1, int(os.environ.get("LOCAL_WORLD_SIZE", "1") or 1))
    spare = available_cores() // local - 1
    return max(0, min(MAX_DEFAULT_WORKERS, spare))


def decoded_bytes(n: int, input_shape: tuple[int, ...]) -> int:
    """Bytes of ``n`` float32 inputs of ``input_shape``."""
    size = 1
    for dim in input_shape:
        size *= int(dim)
    return n * size * 4


@dataclass(frozen=True)
class Placement:
    """Where a run's data lives, and why: the decision ``data.in_memory`` asked for.

    Attributes:
        in_memory: Whether the splits are held as tensors.
        requested: ``auto``, ``true`` or ``false``, as the recipe said.
        estimated_bytes: The decoded size of the three splits.
        budget_bytes: ``data.memory_budget``, resolved.
        num_workers: Worker processes per streamed split.
        reason: Why, in words.
    """

    in_memory: bool
    requested: str
    estimated_bytes: int
    budget_bytes: int
    num_workers: int
    reason: str

    def describe(self) -> dict[str, Any]:
        """The ``metrics.json`` entry (``data.loading``)."""
        return {
            "requested": self.requested,
            "estimated_bytes": self.estimated_bytes,
            "budget_bytes": self.budget_bytes,
            "num_workers": self.num_workers,
            "reason": self.reason,
        }

    def line(self, dataset: str) -> str:
        """The console line a run prints when it loads the data."""
        where = "in memory" if self.in_memory else f"streamed, {self.num_workers} workers"
        return f"data: {dataset} {where} ({self.reason})"


def materialize(split: DataSplit, batch_size: int = MATERIALIZE_BATCH) -> Split:
    """``split`` copied into memory: one tensor filled batch by batch, in order, by the workers.

    The tensor is allocated once, so the copy peaks at its size plus the batches in flight.
    """
    if isinstance(split, Split):
        return split
    x = torch.empty((len(split), *split.input_shape), dtype=torch.float32)
    for idx, batch, _ in split.batches(batch_size):
        x[idx] = batch
    return Split(x, split.labels.clone())
