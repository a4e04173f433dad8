"""Where a split's teacher outputs come from: RAM, memory maps on disk, or the teachers each step.

:func:`prepare_teacher_outputs` decides it once per split a training reads: when the outputs
may be reused (:func:`compressor.training.teachers.outputs_reusable`), an in-memory split keeps
them in RAM (shared by the run's later stages with the same teacher), and a streamed split
keeps them on disk (:class:`~compressor.training.teacher_store.OutputStore`: reused across
epochs, and across runs when the store has a folder). Otherwise, or when they would not fit,
the teachers run on every batch, on the fastest backend asked for.
"""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import AbstractContextManager
from typing import Any

from torch import nn

from compressor.data import DataSplit, Split, head
from compressor.logs import get_logger
from compressor.training.teacher_store import OutputStore
from compressor.training.teachers import InMemoryOutputs, OutputLookup, Teachers

log = get_logger(__name__)


def prepare_teacher_outputs(
    tutor: Teachers,
    teachers: Sequence[nn.Module],
    split: DataSplit,
    *,
    name: str = "train",
    cacheable: bool,
    shared: dict[Any, Any] | None,
    store: OutputStore | None = None,
    backend: str,
    batch_size: int,
    eval_batch_size: int,
    device: str,
    precision: AbstractContextManager[Any],
) -> tuple[OutputLookup | None, list[str]]:
    """Compute the teachers' outputs over ``split`` once when allowed, else ready them to run
    every step.

    Args:
        tutor: The teachers, as the loss terms read them.
        teachers: The teacher models the caller passed: the shared cache's key names them.
        split: A whole training split.
        name: Which split it is (``train``, ``transfer``): part of the disk key.
        cacheable: :func:`~compressor.training.teachers.outputs_reusable`.
        shared: The run's in-RAM cache, shared across stages (``None``: this call's alone).
        store: Where a streamed split's outputs are kept on disk (``None``: in RAM as well).
        backend: Where logits-only teachers run (``torch`` leaves them as they are).
        batch_size: Training batch size (also the CPU's chunk for the caching pass).
        eval_batch_size: Chunk of the caching pass on other devices.
        device: Torch device.
        precision: The autocast context the caching pass runs under.

    Returns:
        The outputs for every row of ``split`` (``None`` when not cached: not cacheable, too
        large for RAM, or the disk could not be written), and the backend each teacher runs
        on, when a fast backend was set up (empty otherwise).
    """
    backends: list[str] = []
    example = head(split, batch_size).to(device)
    # On the CPU, chunks of the training batch size: a small teacher's activations for
    # 512-row chunks spill out of the caches, and the pass took twice as long per row.
    chunk = batch_size if str(device) == "cpu" else eval_batch_size
    lookup: OutputLookup | None = None
    if cacheable and store is not None and not isinstance(split, Split):
        key = store.key(
            name, {"rows": len(split), "shape": split.input_shape, "paths": tutor.paths}
        )
        lookup = store.load(key, len(split))
        if lookup is None:
            if backend != "torch":  # the one pass over the data runs on the fast backend too
                backends = tutor.speed_up(example, backend)
            try:
                with precision:
                    lookup = store.write(key, len(split), tutor.passes(split, chunk, device))
            except OSError as error:
                log.warning(
                    "teacher outputs not kept on disk (%s): the teacher runs every step", error
                )
    elif cacheable:
        ram_key = (
            tuple(id(t) for t in teachers),
            id(split),
            tuple(map(tuple, tutor.paths)),
            device,
        )
        if shared is not None and ram_key in shared:
            lookup = shared[ram_key]
        else:
            if backend != "torch":
                backends = tutor.speed_up(example, backend)
            with precision:
                cached = tutor.cache(split, chunk, device)
            lookup = InMemoryOutputs(cached) if cached is not None else None
            if shared is not None and lookup is not None:
                shared[ram_key] = lookup
    if lookup is None and backend != "torch" and not backends:
        backends = tutor.speed_up(example, backend)
    return lookup, backends
