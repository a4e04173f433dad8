"""The training loop shared by the train, distill and prune stages.

One loop serves all three: weighted loss terms (:mod:`compressor.training.terms`) on logits or
on intermediate features, zero or more frozen teachers (:mod:`compressor.training.teachers`),
batch augmentation, an optimizer with a schedule, validation accuracy after every epoch, a
progress bar, and a checkpoint after every epoch that an interrupted run resumes from.

:func:`fit` sets up a :class:`compressor.training.trainer.Trainer`, restores the epoch
checkpoint if there is one, then trains, validates and checkpoints epoch by epoch. Every
random draw comes from the loop's own generator or torch's global one, always in the same
order, so a resumed run computes exactly what an uninterrupted one would.
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from torch import nn

from compressor.data import DataBundle, DataSplit
from compressor.schemas import OptimizerConfig
from compressor.training import distributed
from compressor.training.epoch_checkpoint import EpochCheckpoint
from compressor.training.stall import stall_warning
from compressor.training.teacher_store import OutputStore
from compressor.training.terms import WeightedLoss
from compressor.training.trainer import Trainer

if TYPE_CHECKING:
    from compressor.task import Task


@dataclass
class FitResult:
    """What :func:`fit` measured.

    Attributes:
        history: One entry per epoch: ``epoch``, ``loss``, ``val_<metric>`` (``val_accuracy``,
            ``val_map``), ``seconds``.
        samples_per_second: Training throughput over all epochs.
        teacher_cached: Whether the teachers' outputs were computed once and reused.
        adapters: The trained adapters (kept out of the model, so never exported).
        teacher_backends: What each teacher ran on when it ran every step.
        teacher_outputs: Split name -> where its reused teacher outputs were kept
            (``{"where": "memory"}``, or ``disk`` with its folder and whether it was reused).
    """

    history: list[dict[str, float]]
    samples_per_second: float
    teacher_cached: bool
    adapters: dict[int, nn.Module] = field(default_factory=dict)
    teacher_backends: list[str] = field(default_factory=list)
    teacher_outputs: dict[str, dict[str, Any]] = field(default_factory=dict)


@dataclass
class _Progress:
    """How far training got: what the epoch checkpoint keeps besides the state of the objects.

    Attributes:
        history: One entry per completed epoch (see :class:`FitResult`).
        seen: Training samples seen over all ranks.
        earlier_seconds: Training time spent before a resume.
        first_epoch: The epoch to train next (1-based).
    """

    history: list[dict[str, float]] = field(default_factory=list)
    seen: int = 0
    earlier_seconds: float = 0.0
    first_epoch: int = 1


def _resume(
    trainer: Trainer, checkpoint: EpochCheckpoint | None, *, bar: Any, epochs: int
) -> _Progress:
    """Restore the state after the last completed epoch, if ``checkpoint`` holds one.

    The model, adapters, optimizer, schedule and every generator get their saved state back,
    and ``bar`` is advanced past the epochs already done.
    """
    if checkpoint is None:
        return _Progress()
    resumed = checkpoint.restore(
        model=trainer.model,
        adapters=trainer.adapters,
        optimizer=trainer.optimizer,
        scheduler=trainer.scheduler,
        generator=trainer.generator,
    )
    if resumed is None:
        return _Progress()
    bar.advance(
        resumed.epoch * trainer.steps_per_epoch, epoch=f"{resumed.epoch}/{epochs} (resumed)"
    )
    return _Progress(resumed.history, resumed.seen, resumed.elapsed, resumed.epoch + 1)


def _train_epochs(
    trainer: Trainer,
    data: DataBundle,
    progress: _Progress,
    *,
    epochs: int,
    eval_batch_size: int,
    bar: Any,
    checkpoint: EpochCheckpoint | None,
    warn: Any = None,
) -> float:
    """Train the epochs from ``progress.first_epoch`` on, validating and saving after each.

    ``progress`` gets one history entry per epoch and counts the samples seen; rank 0 alone
    writes the checkpoint. ``warn`` is told when the training looks stalled
    (:func:`compressor.training.stall.stall_warning`).

    Returns:
        Seconds spent training, including those before a resume.
    """
    started = time.perf_counter()
    for epoch in range(progress.first_epoch, epochs + 1):
        epoch_start = time.perf_counter()
        total, count = trainer.train_epoch(
            data.train, epoch=epoch, epochs=epochs, bar=bar, checkpoint=checkpoint
        )
        val_metric = trainer.validate(data.val, eval_batch_size)
        progress.seen += count
        progress.history.append(
            {
                "epoch": epoch,
                "loss": total / max(count, 1),
                f"val_{trainer.task.metric.key}": val_metric,
                "seconds": time.perf_counter() - epoch_start,
            }
        )
        bar.advance(
            0,
            epoch=f"{epoch}/{epochs}",
            loss=total / max(count, 1),
            **{trainer.task.progress_name: val_metric},
        )
        if warn is not None and trainer.task.class_logits:
            stalled = stall_warning(
                progress.history, data.num_classes, f"val_{trainer.task.metric.key}"
            )
            if stalled:
                warn(stalled)
        if checkpoint is not None and trainer.place.is_main:
            checkpoint.save(
                epoch=epoch,
                model=trainer.model,
                adapters=trainer.adapters,
                optimizer=trainer.optimizer,
                scheduler=trainer.scheduler,
                generator=trainer.generator,
                history=progress.history,
                seen=progress.seen,
                elapsed=progress.earlier_seconds + time.perf_counter() - started,
            )
    return progress.earlier_seconds + time.perf_counter() - started


def fit(
    model: nn.Module,
    *,
    data: DataBundle,
    losses: Sequence[WeightedLoss],
    epochs: int,
    optimizer: OptimizerConfig,
    batch_size: int,
    eval_batch_size: int,
    device: str,
    seed: int,
    bar: Any,
    teachers: Sequence[nn.Module] = (),
    cache_teacher: bool = True,
    augment: Any = None,
    teacher_cache: dict[Any, Any] | None = None,
    teacher_backend: str = "torch",
    checkpoint: EpochCheckpoint | None = None,
    precision: str = "fp32",
    transfer: DataSplit | None = None,
    transfer_mode: str = "add",
    teacher_store: OutputStore | None = None,
    task: Task | None = None,
    warn: Any = None,
) -> FitResult:
    """Train ``model`` in place.

    It is one piece, long only because it documents its twenty keyword arguments, which the
    stages and benchmarks pass by name; the work is in
    :class:`compressor.training.trainer.Trainer`, :func:`_resume` and :func:`_train_epochs`.

    Args:
        model: The model to train (moved to ``device``).
        data: The dataset; trains on ``data.train``, reports accuracy on ``data.val``.
        losses: Weighted loss terms.
        epochs: Passes over the training split.
        optimizer: Optimizer and schedule.
        batch_size: Training batch size.
        eval_batch_size: Batch size for inference (teacher cache, validation).
        device: Torch device.
        seed: Seeds shuffling and augmentation.
        bar: A progress bar with ``advance(steps, **postfix)``; advanced once per batch.
        teachers: Frozen teacher models.
        cache_teacher: Reuse the teachers' outputs when batches are the same every epoch.
        augment: The recipe's ``data.augment`` (``None``: no augmentation).
        teacher_cache: A dict shared across calls (the run's), so a later stage with the same
            teacher and data reuses the outputs this one computed.
        teacher_backend: Where logits-only teachers run (every step, or the one caching pass):
            ``torch``, ``torchscript``, ``channels_last``, ``onnxruntime`` or ``auto`` (a fixed
            rule, see :func:`compressor.training.fast_teacher.fastest_teacher`).
        checkpoint: Where to save the state after every epoch; when it already holds one (an
            interrupted run being resumed), training continues after its epoch.
        precision: ``fp32``, or ``bf16`` to run the forward passes and losses under bfloat16
            autocast.
        transfer: Unlabelled transfer data: its batches, interleaved with the labelled ones,
            score only the loss terms that read a teacher (their labels are ignored).
        transfer_mode: ``add`` (train on ``data.train`` and ``transfer``) or ``replace``
            (``transfer`` alone).
        teacher_store: Where a streamed split's reused teacher outputs are kept on disk
            (:mod:`compressor.training.teacher_store`); ``None``: a temporary folder, removed
            when training ends.
        task: The run's task: its targets, metric (validated every epoch, recorded as
            ``val_<metric>``) and sample transforms; ``None``: classification.
        warn: Called with one line when, after its first epochs, the training looks stalled
            (loss flat, validation at chance); ``None``: not told.

    A model with BatchNorm layers leaves out a lone last row of every epoch (see
    :mod:`compressor.training.passes`).

    Under torchrun (:mod:`compressor.training.distributed`) the student trains in
    ``DistributedDataParallel`` on this rank's shard of every epoch, ``batch_size`` being the
    global batch; the teachers stay unwrapped and the epoch loss and validation accuracy are
    reduced over ranks.

    Raises:
        StageFailure: A loss term needs a teacher but ``teachers`` is empty, or the loss became
            NaN or infinite (names the epoch and step; the checkpoint of the last completed
            epoch stays).
        compressor.interrupt.Interrupted: Ctrl-C was pressed (checked after every step).
    """
    trainer = Trainer(
        model,
        data=data,
        losses=losses,
        epochs=epochs,
        optimizer=optimizer,
        batch_size=batch_size,
        eval_batch_size=eval_batch_size,
        device=device,
        seed=seed,
        teachers=teachers,
        cache_teacher=cache_teacher,
        augment=augment,
        teacher_cache=teacher_cache,
        teacher_backend=teacher_backend,
        precision=precision,
        transfer=transfer,
        transfer_mode=transfer_mode,
        teacher_store=teacher_store,
        task=task,
    )
    try:
        progress = _resume(trainer, checkpoint, bar=bar, epochs=epochs)
        elapsed = _train_epochs(
            trainer,
            data,
            progress,
            epochs=epochs,
            eval_batch_size=eval_batch_size,
            bar=bar,
            checkpoint=checkpoint,
            warn=warn,
        )
    finally:
        trainer.close()
    for module in (model, *trainer.adapters.values()):
        distributed.broadcast_module(module)
    model.eval()
    return FitResult(
        history=progress.history,
        samples_per_second=progress.seen / elapsed if elapsed > 0 else math.inf,
        teacher_cached=bool(trainer.lookups),
        adapters=trainer.adapters,
        teacher_backends=trainer.teacher_backends,
        teacher_outputs=trainer.teacher_outputs(),
    )
