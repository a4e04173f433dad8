"""One stage's training, set up: the student, its adapters, optimizer and teachers; one epoch.

:class:`Trainer` builds everything :func:`compressor.training.fit` trains with, in the order
the random draws depend on, then trains one epoch at a time: each batch is augmented, scored
by the weighted loss terms against the teachers' outputs (cached or computed on the spot),
and followed by one optimizer step. Epochs, validation and checkpoints are the loop's
(:mod:`compressor.training.loop`).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager
from typing import TYPE_CHECKING, Any

import torch
from torch import nn

from compressor import interrupt
from compressor.data import Batch, DataBundle, DataSplit, head, worker_errors
from compressor.errors import StageFailure
from compressor.logs import get_logger
from compressor.plugin.tasks import classification
from compressor.schemas import OptimizerConfig
from compressor.training import distributed
from compressor.training.augment import Augmenter
from compressor.training.epoch_checkpoint import EpochCheckpoint
from compressor.training.evaluation import evaluate, evaluate_sharded
from compressor.training.features import LOGITS, FeatureTap, adapt, build_adapter
from compressor.training.optim import build_optimizer
from compressor.training.passes import EpochBatches, has_batchnorm, rows_per_pass
from compressor.training.precision import autocast
from compressor.training.sample_augment import PerSample
from compressor.training.teacher_cache import prepare_teacher_outputs
from compressor.training.teacher_store import OutputStore
from compressor.training.teachers import OutputLookup, TeacherOutputs, Teachers, outputs_reusable
from compressor.training.terms import WeightedLoss, bind_losses

if TYPE_CHECKING:
    from compressor.task import Task

log = get_logger(__name__)


def build_adapters(
    model: nn.Module,
    losses: Sequence[WeightedLoss],
    tutor: Teachers,
    x: torch.Tensor,
    device: str,
) -> dict[int, nn.Module]:
    """The adapters the loss terms ask for, sized by a dry forward pass on two rows of ``x``.

    Args:
        model: The student (on ``device``); left in eval mode when a probe pass ran.
        losses: The loss terms; those with an ``adapter`` other than ``none`` get one.
        tutor: The teachers, probed at the locations the terms read.
        x: Training inputs; the first two rows are the probe.
        device: Torch device the adapters are moved to.

    Returns:
        Term index -> adapter mapping the student's feature onto the teacher's; empty when no
        term asks for an adapter (then nothing runs).
    """
    adapters: dict[int, nn.Module] = {}
    if not any(term.adapter != "none" for term in losses):
        return adapters
    probe = x[:2].to(device)
    model.eval()
    with torch.no_grad(), FeatureTap(model, [term.student_at for term in losses]) as tap:
        student_probe = tap.collect(model(probe))
    teacher_probe = tutor.outputs(probe)
    for i, term in enumerate(losses):
        built = build_adapter(
            term.adapter,
            student_probe[term.student_at].shape,
            tutor.for_term(term, teacher_probe).shape,
        )
        if built is not None:
            adapters[i] = built.to(device)
    return adapters


class Trainer:
    """One stage's training, set up from :func:`compressor.training.fit`'s arguments.

    Setting up moves the student to ``device``, builds the adapters (their initial weights
    come from torch's global generator), seeds the loop's generator per rank, wraps the
    student for torchrun, builds the optimizer and schedule, and caches the teachers' outputs
    or readies the teachers to run every step.

    Attributes:
        model: The student (unwrapped: feature taps and checkpoints use it).
        trained: What the forward pass calls: ``model``, or its ``DistributedDataParallel``.
        losses: The loss terms.
        adapters: Term index -> adapter (see :func:`build_adapters`).
        tutor: The teachers.
        lookups: Split name (``train``, ``transfer``) -> the teachers' outputs over it, computed
            once, when reused every epoch (a missing name: the teachers run every step).
        teacher_backends: What each teacher runs on, when a fast backend was set up.
        augmenter: The batch augmentation.
        per_sample: The per-sample augmentation (streamed: in the workers; else per batch).
        generator: The loop's generator: shuffling (one process) and augmentation.
        epochs: How each epoch's batches are served (:mod:`compressor.training.passes`).
        transfer: The unlabelled transfer split (``None``: none).
        labelled: Whether the labelled training split is trained on (``transfer_mode: add``).
        optimizer: Optimizes the student's and the adapters' parameters.
        scheduler: Stepped after every optimizer step, if any.
        precision: The autocast context forward passes and losses run under.
        place: This process's place among torchrun's ranks.
        steps_per_epoch: Optimizer steps per epoch (the same on every rank).

    Raises:
        StageFailure: A loss term needs a teacher, but there is none; or transfer data was
            given but no loss term reads a teacher.
    """

    def __init__(
        self,
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
        teachers: Sequence[nn.Module],
        cache_teacher: bool,
        augment: Any,
        teacher_cache: dict[Any, Any] | None,
        teacher_backend: str,
        precision: str,
        transfer: DataSplit | None = None,
        transfer_mode: str = "add",
        teacher_store: OutputStore | None = None,
        task: Task | None = None,
    ) -> None:
        model.to(device)
        self.task, self.data = task or classification(), data
        self.model, self.losses, self.device = model, losses, device
        self.batch_size, self.seed, self.num_classes = batch_size, seed, data.num_classes
        self.needs_teacher = any(term.needs_teacher for term in losses)
        if self.needs_teacher and not teachers:
            raise StageFailure("a loss term needs a teacher, but the stage has none")
        if transfer is not None and not self.needs_teacher:
            raise StageFailure("transfer data needs a loss term that reads the teacher (e.g. kd)")
        self.transfer, self.labelled = transfer, transfer is None or transfer_mode != "replace"
        self.tutor = Teachers(teachers, losses, device)
        self.place = distributed.current()
        # Each rank augments its own samples: a rank-dependent seed, the stage seed itself on rank 0.
        self.generator = torch.Generator().manual_seed(seed + 7919 * self.place.rank)
        self.augmenter = Augmenter(augment, data.mean, data.std, self.generator)
        # Only audio preprocessing has a rate: it switches the waveform augmentations on.
        rate = getattr(data.preprocessing, "sample_rate", None)
        self.per_sample = PerSample(
            augment, data.mean, data.std, data.input_shape[-2:], seed, self.task, rate
        )
        self.epochs = EpochBatches(batch_size, seed, self.generator, device, has_batchnorm(model))
        self.student_paths = [term.student_at for term in losses]
        bind_losses(losses, model)
        self.adapters = build_adapters(model, losses, self.tutor, head(data.train, 2), device)
        self.adapter_params = [p for a in self.adapters.values() for p in a.parameters()]
        for adapter in self.adapters.values():
            distributed.broadcast_module(adapter)
        # Feature taps stay on the unwrapped model: its hooks fire when the wrapper calls it.
        self.trained = distributed.wrap(
            model, device, static_graph=not any(term.student_at == LOGITS for term in losses)
        )
        self.precision: AbstractContextManager[Any] = autocast(device, precision)
        self.steps_per_epoch = self.epoch_steps(data.train)
        self.optimizer, self.scheduler = build_optimizer(
            [*model.parameters(), *self.adapter_params],
            optimizer,
            epochs * self.steps_per_epoch,
            model=model,
        )
        self.lookups: dict[str, OutputLookup] = {}
        self.teacher_backends: list[str] = []
        self.teacher_store = teacher_store if teacher_store is not None else OutputStore(None)
        if self.needs_teacher:
            reusable = outputs_reusable(cache_teacher, self.augmenter, self.per_sample)
            self._prepare_teachers(
                teachers, data.train, reusable, teacher_cache, teacher_backend, eval_batch_size
            )

    def epoch_steps(self, train: DataSplit) -> int:
        """Optimizer steps per epoch over the labelled split and the transfer split; says once
        when a lone last row sits out (BatchNorm)."""
        splits = [train] if self.labelled else []
        splits += [self.transfer] if self.transfer is not None else []
        for split in splits:
            n = len(split)
            if self.place.enabled:
                n = -(-n // self.place.world_size)
            size = distributed.local_batch_size(self.batch_size)
            if rows_per_pass(n, size, drop_lone_row=self.epochs.drop_lone_row) < n:
                log.info(
                    "the last training batch would hold one row, and BatchNorm in train mode "
                    "needs more than one: one row (a different one each epoch) sits out"
                )
                break
        return sum(self.epochs.steps(len(split)) for split in splits)

    def _prepare_teachers(
        self,
        teachers: Sequence[nn.Module],
        train: DataSplit,
        cacheable: bool,
        shared: dict[Any, Any] | None,
        backend: str,
        eval_batch_size: int,
    ) -> None:
        """Compute the teachers' outputs over each split once when allowed (see
        :func:`~compressor.training.teacher_cache.prepare_teacher_outputs`)."""
        splits = {"train": train} if self.labelled else {}
        if self.transfer is not None:
            splits["transfer"] = self.transfer
        for name, split in splits.items():
            lookup, backends = prepare_teacher_outputs(
                self.tutor,
                teachers,
                split,
                name=name,
                cacheable=cacheable,
                shared=shared,
                store=self.teacher_store,
                backend="torch" if self.teacher_backends else backend,
                batch_size=self.batch_size,
                eval_batch_size=eval_batch_size,
                device=self.device,
                precision=self.precision,
            )
            self.teacher_backends = self.teacher_backends or backends
            if lookup is not None:
                self.lookups[name] = lookup

    def teacher_outputs(self) -> dict[str, Any]:
        """Where each split's teacher outputs came from, for the stage's metrics."""
        return {name: lookup.describe() for name, lookup in self.lookups.items()}

    def close(self) -> None:
        """Remove the teacher outputs' temporary folder, if one was made."""
        self.teacher_store.close()

    def batches(
        self, split: DataSplit, transfer: DataSplit | None, epoch: int
    ) -> Iterator[tuple[bool, Batch]]:
        """``(is_transfer, (indices, x, y))`` of one epoch: this rank's shard, or the whole
        split shuffled, with the ``transfer`` split's batches interleaved."""
        return self.epochs.mixed(split if self.labelled else None, transfer, epoch)

    def batch_loss(
        self, idx: torch.Tensor, x: torch.Tensor, targets: torch.Tensor, transfer: bool = False
    ) -> torch.Tensor:
        """The weighted sum of the loss terms on one (augmented) batch.

        Args:
            idx: The batch's rows in its split (they look the cached outputs up).
            x: The batch as the student and the teachers see it.
            targets: Class indices, or mixed soft targets.
            transfer: A batch of unlabelled transfer data: only the terms that read a teacher
                count, and they get no labels.
        """
        teacher_out: TeacherOutputs = {}
        lookup = self.lookups.get("transfer" if transfer else "train")
        with self.precision:
            if self.needs_teacher:
                if lookup is not None:
                    teacher_out = lookup.rows(idx, self.device)
                else:
                    teacher_out = self.tutor.outputs(x)
            with FeatureTap(self.model, self.student_paths) as tap:
                student_out = tap.collect(self.trained(x))
            loss = torch.zeros((), device=self.device)
            for i, term in enumerate(self.losses):
                if transfer and not term.needs_teacher:
                    continue
                teacher_value = (
                    self.tutor.for_term(term, teacher_out) if term.needs_teacher else None
                )
                student_value = student_out[term.student_at]
                # Only terms that read a teacher have adapters (built from its output's shape).
                if i in self.adapters and teacher_value is not None:
                    student_value = adapt(self.adapters[i], student_value, teacher_value)
                given = None if transfer else targets
                loss = loss + term.weight * term.module(student_value, teacher_value, given)
        return loss

    def step(self, loss: torch.Tensor) -> None:
        """One optimizer (and schedule) step on ``loss``; adapter gradients averaged over ranks."""
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        distributed.average_gradients(self.adapter_params)
        self.optimizer.step()
        if self.scheduler is not None:
            self.scheduler.step()

    def train_epoch(
        self,
        split: DataSplit,
        *,
        epoch: int,
        epochs: int,
        bar: Any,
        checkpoint: EpochCheckpoint | None,
    ) -> tuple[float, int]:
        """Train on one epoch of ``split``, advancing ``bar`` once per batch.

        Args:
            split: The training split.
            epoch: Which epoch this is (1-based; it seeds a sharded epoch's order).
            epochs: Epochs in the stage (for the bar).
            bar: A progress bar with ``advance(steps, **postfix)``.
            checkpoint: The stage's epoch checkpoint, named when the loss diverges.

        Returns:
            The sum of the batch losses weighted by batch size, and the number of samples,
            both summed over ranks.

        Raises:
            StageFailure: The loss became NaN or infinite.
            compressor.interrupt.Interrupted: Ctrl-C was pressed (checked after every step).
        """
        self.model.train()
        for adapter in self.adapters.values():
            adapter.train()
        total, count = 0.0, 0
        # A streamed split's dead worker is reported from a signal handler, at any line here.
        with worker_errors():
            # Per-sample augmentation applies to both splits: a streamed one's workers do it.
            source = self.per_sample.source(split, epoch)
            unlabelled = (
                None if self.transfer is None else self.per_sample.source(self.transfer, epoch)
            )
            served = self.batches(source, unlabelled, epoch)
            for step, (transfer, (idx, x, y)) in enumerate(served, start=1):
                x, y = x.to(self.device, non_blocking=True), y.to(self.device, non_blocking=True)
                origin = unlabelled if transfer and unlabelled is not None else source
                x, y = self.per_sample.on_batch(origin, x, y, idx, epoch)
                x, targets = self.augmenter(x, y, self.num_classes)
                loss = self.batch_loss(idx, x, targets, transfer)
                if not torch.isfinite(loss):
                    raise _diverged(loss, epoch=epoch, step=step, checkpoint=checkpoint)
                self.step(loss)
                total += loss.item() * len(y)
                count += len(y)
                bar.advance(1, epoch=f"{epoch}/{epochs}", loss=total / count)
                if not self.place.enabled:  # ranks stop at the same step; torchrun handles Ctrl-C
                    interrupt.check(f"epoch {epoch}, step {step}")
        if self.place.enabled:
            total, summed_count = distributed.reduce_totals(total, count)
            count = int(summed_count)
        return total, count

    def validate(self, split: DataSplit, batch_size: int) -> float:
        """The task's headline metric on ``split``; under torchrun every rank must call it
        (they share the work)."""
        score = evaluate_sharded if self.place.enabled else evaluate
        return score(self.model, split, batch_size, self.device, task=self.task, data=self.data)


def _diverged(
    loss: torch.Tensor, *, epoch: int, step: int, checkpoint: EpochCheckpoint | None
) -> StageFailure:
    """The error for a loss that became NaN or infinite, naming the checkpoint that stays."""
    kept = (
        f"; the checkpoint of epoch {epoch - 1} is kept (checkpoints/{checkpoint.path.name})"
        if checkpoint is not None and epoch > 1
        else ""
    )
    return StageFailure(
        f"the loss became {loss.item()} at epoch {epoch}, step {step}{kept}; "
        "try a lower learning rate"
    )
