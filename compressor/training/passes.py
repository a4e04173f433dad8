"""The batches of one training epoch: which rows, in which order, from which splits.

One epoch of a split is a shuffled pass (one process) or this rank's shard of one (torchrun,
:func:`compressor.training.distributed.shard_indices`), cut into batches. Two rules apply on
top:

- **A lone last row sits out when the model has BatchNorm layers.** BatchNorm in train mode
  needs more than one value per channel; a last batch of one row on a model ending in a
  ``BatchNorm1d`` fails with "Expected more than 1 value per channel when training". When a
  pass would end in a one-row batch, its last row is left out (a different row each epoch,
  since the order is shuffled). The rule reads the pass's length, which is the same on every
  rank (shards are padded to equal length) and on both data paths, so every process leaves out
  the same batch and takes the same number of steps.
- **Transfer batches are interleaved with labelled ones** (the distill stage's ``transfer``):
  each split is batched on its own, so a batch is all labelled or all transfer, and the order
  of the two kinds is drawn from the loop's generator (a generator seeded by the epoch under
  torchrun, so every rank agrees).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import torch
from torch import nn

from compressor.data import Batch, DataSplit, batches
from compressor.training import distributed


def has_batchnorm(model: nn.Module) -> bool:
    """Whether ``model`` has a BatchNorm layer (any of ``nn.BatchNorm1d/2d/3d``, ``SyncBatchNorm``)."""
    return any(isinstance(m, nn.modules.batchnorm._BatchNorm) for m in model.modules())


def rows_per_pass(n: int, batch_size: int, *, drop_lone_row: bool) -> int:
    """Rows one pass of ``n`` rows trains on: all, or one fewer when the last batch would hold one.

    Args:
        n: Rows in the pass (a rank's shard under torchrun).
        batch_size: Rows per batch (the rank's share under torchrun).
        drop_lone_row: Whether a lone last row is left out (the model has BatchNorm layers).
    """
    if drop_lone_row and n > batch_size and n % batch_size == 1:
        return n - 1
    return n


def steps_per_pass(n: int, batch_size: int, *, drop_lone_row: bool) -> int:
    """Optimizer steps of one epoch over ``n`` rows at global batch ``batch_size`` (every rank)."""
    if not n:
        return 0
    place = distributed.current()
    local = distributed.local_batch_size(batch_size) if place.enabled else batch_size
    per_rank = -(-n // place.world_size) if place.enabled else n
    kept = rows_per_pass(per_rank, local, drop_lone_row=drop_lone_row)
    return -(-kept // local)


@dataclass
class EpochBatches:
    """How one training's epochs are served.

    Attributes:
        batch_size: The global training batch size.
        seed: The stage seed (it seeds a sharded epoch's order).
        generator: The loop's generator (shuffles one process's epochs).
        device: Where batches go (a streamed split pins them for CUDA).
        drop_lone_row: Leave out a lone last row (the model has BatchNorm layers).
    """

    batch_size: int
    seed: int
    generator: torch.Generator
    device: str
    drop_lone_row: bool

    def of(self, split: DataSplit, epoch: int) -> Iterator[Batch]:
        """``(indices, x, y)`` batches of one epoch of ``split``: this rank's shard, or the whole
        split shuffled."""
        place = distributed.current()
        if place.enabled:
            order = torch.tensor(
                distributed.shard_indices(
                    len(split),
                    rank=place.rank,
                    world_size=place.world_size,
                    seed=self.seed,
                    epoch=epoch,
                ),
                dtype=torch.long,
            )
            size = distributed.local_batch_size(self.batch_size)
        else:
            # The same single draw batches(shuffle=True) makes, so results are unchanged.
            order = torch.randperm(len(split), generator=self.generator)
            size = self.batch_size
        order = order[: rows_per_pass(len(order), size, drop_lone_row=self.drop_lone_row)]
        return batches(split, size, order=order, device=self.device)

    def steps(self, n: int) -> int:
        """Optimizer steps of one epoch over ``n`` rows."""
        return steps_per_pass(n, self.batch_size, drop_lone_row=self.drop_lone_row)

    def mixed(
        self, labelled: DataSplit | None, transfer: DataSplit | None, epoch: int
    ) -> Iterator[tuple[bool, Batch]]:
        """``(is_transfer, batch)`` of one epoch over the labelled split and the transfer split
        (either may be ``None``), interleaved in an order drawn once per epoch."""
        kinds = [False] * (self.steps(len(labelled)) if labelled is not None else 0)
        kinds += [True] * (self.steps(len(transfer)) if transfer is not None else 0)
        if labelled is None or transfer is None:
            order = torch.arange(len(kinds))
        elif distributed.current().enabled:
            agreed = torch.Generator().manual_seed(self.seed * 1009 + epoch)
            order = torch.randperm(len(kinds), generator=agreed)
        else:
            order = torch.randperm(len(kinds), generator=self.generator)
        streams = {
            False: self.of(labelled, epoch) if labelled is not None else iter(()),
            True: self.of(transfer, epoch) if transfer is not None else iter(()),
        }
        for position in order.tolist():
            kind = kinds[position]
            yield kind, next(streams[kind])
