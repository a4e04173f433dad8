"""Data-parallel training across processes (``torchrun``).

``torchrun --nproc_per_node=N -m compressor run RECIPE`` (or ``compressor run --nproc N``)
starts N copies of the run. Each reads torchrun's environment (``WORLD_SIZE``, ``RANK``,
``LOCAL_RANK``) through :func:`init_from_env`; with more than one process they join a process
group (gloo on CPU, NCCL on CUDA) and the training stages wrap the student in
``DistributedDataParallel``. Without torchrun nothing here changes anything: every helper
falls back to the single-process behaviour.

The recipe's ``data.batch_size`` is the global batch: each of N ranks takes
``ceil(batch_size / N)`` samples per step, so the averaged gradients match what one process
computes on the whole batch. Validation shared among the ranks is
:func:`compressor.training.evaluation.evaluate_sharded`.

torch is imported inside the functions: ``compressor plugins`` lists plugins without it.
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, cast

from compressor.errors import UsageError

if TYPE_CHECKING:
    import torch
    from torch import nn

    from compressor.data import DataSplit


@dataclass(frozen=True)
class DistributedInfo:
    """Where this process stands in a (possibly one-process) run.

    Attributes:
        rank: Global rank, 0..world_size-1.
        world_size: Number of processes.
        local_rank: Rank on this node (picks the GPU).
        device: The torch device this process trains on.
    """

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    device: str = "cpu"

    @property
    def is_main(self) -> bool:
        """Whether this process writes the run folder and draws progress (rank 0)."""
        return self.rank == 0

    @property
    def enabled(self) -> bool:
        """Whether there is more than one process (a process group exists)."""
        return self.world_size > 1


# The process group is process-wide state in torch too; keeping ours beside it spares every
# function between the pipeline and the training loop an extra argument.
_current = DistributedInfo()


def current() -> DistributedInfo:
    """The running process's :class:`DistributedInfo` (one process until :func:`init_from_env`)."""
    return _current


def _env_int(name: str, default: int) -> int:
    value = os.environ.get(name)
    if value is None or value == "":
        return default
    try:
        return int(value)
    except ValueError:
        raise UsageError(f"environment variable {name}={value!r} must be an integer") from None


def env_rank() -> int:
    """``RANK`` from torchrun's environment (0 when not launched by torchrun)."""
    return _env_int("RANK", 0)


def init_from_env(device: str) -> DistributedInfo:
    """Join the process group torchrun describes in the environment, if any.

    Args:
        device: The resolved recipe device (``cpu``, ``cuda``, ``cuda:N``, ``mps``).

    Returns:
        This process's place; with ``WORLD_SIZE`` unset or 1, rank 0 of 1 on ``device``.

    Raises:
        UsageError: A multi-process run on a device other than CPU or CUDA, or more processes
            on a node than it has GPUs.
    """
    global _current
    world_size = _env_int("WORLD_SIZE", 1)
    if world_size <= 1:
        _current = DistributedInfo(device=device)
        return _current
    rank, local_rank = _env_int("RANK", 0), _env_int("LOCAL_RANK", 0)
    import torch
    import torch.distributed as dist

    if device.startswith("cuda"):
        if local_rank >= torch.cuda.device_count():
            raise UsageError(
                f"LOCAL_RANK {local_rank} but this node has {torch.cuda.device_count()} CUDA "
                "device(s); start at most one process per GPU (--nproc_per_node)"
            )
        # One GPU per process, picked by the local rank: a recipe's cuda:N means nothing here.
        torch.cuda.set_device(local_rank)
        device, backend = f"cuda:{local_rank}", "nccl"
    elif device == "cpu":
        backend = "gloo"
    else:
        raise UsageError(
            f"device: {device!r} cannot run with several processes; valid choices: cpu, cuda"
        )
    if not dist.is_initialized():
        dist.init_process_group(backend=backend)
    _current = DistributedInfo(
        rank=rank, world_size=world_size, local_rank=local_rank, device=device
    )
    return _current


def shutdown() -> None:
    """Leave the process group (if one was joined) and go back to one process."""
    global _current
    if _current.enabled:
        import torch.distributed as dist

        if dist.is_initialized():
            dist.destroy_process_group()
    _current = DistributedInfo(device=_current.device)


def barrier() -> None:
    """Wait until every rank gets here (nothing to wait for in one process)."""
    if _current.enabled:
        import torch.distributed as dist

        dist.barrier()


def all_reduce_sum(tensor: torch.Tensor) -> torch.Tensor:
    """Sum ``tensor`` over ranks, in place, and return it (unchanged in one process)."""
    if _current.enabled:
        import torch.distributed as dist

        dist.all_reduce(tensor, op=dist.ReduceOp.SUM)
    return tensor


def reduce_totals(*values: float) -> list[float]:
    """Sum plain numbers (loss sums, sample counts) over ranks."""
    if not _current.enabled:
        return list(values)
    import torch

    # float64 on the training device: NCCL reduces CUDA tensors only, and counts stay exact.
    return all_reduce_sum(
        torch.tensor(values, dtype=torch.float64, device=_current.device)
    ).tolist()


def gather_objects(value: Any) -> list[Any]:
    """Every rank's ``value`` (picklable), in rank order; ``[value]`` in one process."""
    if not _current.enabled:
        return [value]
    import torch.distributed as dist

    gathered: list[Any] = [None] * _current.world_size
    dist.all_gather_object(gathered, value)
    return gathered


def average_gradients(params: Iterable[nn.Parameter]) -> None:
    """Average the gradients of ``params`` over ranks (what DDP does for the model it wraps).

    Used for the distillation adapters, which live outside the model: one flat all-reduce after
    ``backward`` instead of one DDP wrapper per adapter.
    """
    if not _current.enabled:
        return
    import torch

    grads = [p.grad for p in params if p.grad is not None]
    if not grads:
        return
    flat = all_reduce_sum(torch.cat([g.reshape(-1) for g in grads]))
    flat /= _current.world_size
    offset = 0
    for g in grads:
        g.copy_(flat[offset : offset + g.numel()].view_as(g))
        offset += g.numel()


def broadcast_module(module: nn.Module) -> None:
    """Give every rank rank 0's parameters and buffers.

    DDP keeps parameters equal, but each rank's last forward pass updates its own BatchNorm
    statistics; after training, every rank must hold the very model rank 0 saves, so that later
    stages (pruning, a teacher cache) compute the same thing everywhere.
    """
    if not _current.enabled:
        return
    import torch.distributed as dist

    for tensor in [*module.parameters(), *module.buffers()]:
        dist.broadcast(tensor.data, src=0)


def wrap(model: nn.Module, device: str, *, static_graph: bool = False) -> nn.Module:
    """``model`` in ``DistributedDataParallel`` (unchanged in one process).

    Args:
        model: The student, already on ``device``.
        device: Its device; CUDA models get ``device_ids``.
        static_graph: Set when no loss term reads the logits. Layers after the last tapped
            feature are then in the graph but get no gradient; ``find_unused_parameters`` would
            wait for them forever (it walks the graph from the output), while a static graph
            learns in the first step which parameters get gradients.
    """
    if not _current.enabled:
        return model
    from torch.nn.parallel import DistributedDataParallel

    ids = [_current.local_rank] if device.startswith("cuda") else None
    return DistributedDataParallel(model, device_ids=ids, static_graph=static_graph)


def local_batch_size(batch_size: int) -> int:
    """This rank's share of the global batch: ``ceil(batch_size / world_size)``."""
    return math.ceil(batch_size / _current.world_size)


def steps_per_epoch(n: int, batch_size: int) -> int:
    """Optimizer steps per epoch over ``n`` samples at global batch ``batch_size`` (same on every rank)."""
    per_rank = math.ceil(n / _current.world_size)
    return math.ceil(per_rank / local_batch_size(batch_size)) if n else 0


def shard_indices(
    n: int, *, rank: int, world_size: int, seed: int, epoch: int, shuffle: bool = True
) -> list[int]:
    """This rank's share of one epoch's shuffled ``range(n)``, by PyTorch's ``DistributedSampler``.

    Every rank draws the same permutation (seeded by ``seed`` and ``epoch``) and takes every
    ``world_size``-th index from ``rank`` on. When ``n`` is not a multiple of ``world_size``
    the sampler repeats a few indices so that all ranks take the same number of steps.
    """
    from torch.utils.data import Dataset, DistributedSampler

    # The sampler only takes len() of its dataset: a range stands for the split's rows.
    rows = cast("Dataset[int]", range(n))
    sampler: DistributedSampler[int] = DistributedSampler(
        rows, num_replicas=world_size, rank=rank, shuffle=shuffle, seed=seed, drop_last=False
    )
    sampler.set_epoch(epoch)
    return list(sampler)


def shard_batches(
    split: DataSplit, batch_size: int, *, seed: int, epoch: int, device: str | None = None
) -> Iterator[tuple[torch.Tensor, torch.Tensor, torch.Tensor]]:
    """``(indices, x, y)`` batches of this rank's shard of ``split`` for one epoch.

    Like :func:`compressor.data.batches` (on either kind of split: the shard is the order it
    serves); ``batch_size`` is the global batch and the indices still index the whole split
    (the teacher cache looks rows up by them). ``device`` pins a streamed split's batches for
    CUDA.
    """
    import torch

    from compressor.data import batches

    order = torch.tensor(
        shard_indices(
            len(split), rank=_current.rank, world_size=_current.world_size, seed=seed, epoch=epoch
        ),
        dtype=torch.long,
    )
    return batches(split, local_batch_size(batch_size), order=order, device=device)
