"""The dearer rungs of a trial: a zero-shot score, a short distillation, and who goes on.

A pruned teacher keeps the teacher's weights, so it can be scored before any training: its
BatchNorm statistics are recomputed on training batches (the layers' inputs changed with the
channels removed, :mod:`compressor.model.batchnorm`) and it is scored on a fixed validation
subset. A candidate reaches the short distillation only if fewer than ``promote_top`` earlier
candidates beat it on the zero-shot rung (as fast or faster, and scoring at least as well):
the best of each rung reach the next. The short distillation (``short_epochs`` on the training
split, or a subset of it) gives the score the study ranks candidates by.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
from torch import nn

from compressor.data import DataBundle, Split, batches
from compressor.model.batchnorm import batchnorm_layers, recalibrate
from compressor_search.metric import MetricInfo, score_model

if TYPE_CHECKING:
    from compressor.context import StageContext
    from compressor.training import FitResult
    from compressor_search.options import SearchOptions


class _Quiet:
    """A progress bar that draws nothing: the live table of trials is the stage's display."""

    def advance(self, steps: int = 1, **postfix: Any) -> None:
        del steps, postfix


def _subset(split: Any, count: int | None, seed: int) -> Any:
    """``count`` rows of ``split`` drawn with ``seed``, in memory; the split itself when
    ``count`` is ``None`` or covers it."""
    if count is None or count >= len(split):
        return split
    rows = torch.randperm(len(split), generator=torch.Generator().manual_seed(seed))[:count]
    rows = rows.sort().values
    return Split(split.take(rows), split.labels[rows])


def screening_data(ctx: StageContext, opts: SearchOptions) -> DataBundle:
    """The data screening trains and scores on: the training split (or ``train_samples`` of
    it) and ``val_samples`` of the validation split, the same rows for every candidate.

    One object for the whole search, so the teacher's outputs over its training rows are
    computed once and reused by every short distillation (the run's teacher cache).
    """
    screening = opts.screening
    data = ctx.data
    return dataclasses.replace(
        data,
        train=_subset(data.train, screening.train_samples, ctx.seed(5)),
        val=_subset(data.val, screening.val_samples, ctx.seed(6)),
    )


def _training_inputs(split: Any, batch_size: int, seed: int, device: str) -> Iterator[torch.Tensor]:
    generator = torch.Generator().manual_seed(seed)
    for _, x, _ in batches(split, batch_size, shuffle=True, generator=generator):
        yield x.to(device)


def recalibrate_batchnorm(ctx: StageContext, model: nn.Module, data: DataBundle, count: int) -> int:
    """Recompute ``model``'s BatchNorm statistics on ``count`` training batches (0: none)."""
    if not batchnorm_layers(model):
        return 0
    inputs = _training_inputs(data.train, ctx.batch_size, ctx.seed(3), ctx.device)
    return recalibrate(model.to(ctx.device), inputs, count)


def zero_shot(ctx: StageContext, model: nn.Module, data: DataBundle, bn_batches: int) -> float:
    """The score of a pruned teacher before any training, its BatchNorm recalibrated."""
    recalibrate_batchnorm(ctx, model, data, bn_batches)
    return score_model(ctx, model, data.val)


def promoted(
    point: tuple[float, float],
    earlier: Sequence[tuple[float, float]],
    top: int,
    metric: MetricInfo,
) -> bool:
    """Whether a candidate goes on to the next rung: fewer than ``top`` earlier candidates
    of this rung are as fast or faster and score at least as well.

    Args:
        point: The candidate's ``(latency ms, score)`` on this rung.
        earlier: The earlier candidates' points on the same rung.
        top: How many better earlier candidates stop it.
        metric: The score's direction.
    """
    latency, score = point
    beaten_by = sum(
        1
        for other_latency, other_score in earlier
        if other_latency <= latency and metric.better(other_score, score)
    )
    return beaten_by < top


def _loss_terms(ctx: StageContext, opts: SearchOptions) -> list[Any]:
    """The stage's distillation loss terms, built."""
    from compressor.training import WeightedLoss

    return [
        WeightedLoss(
            name=term.name,
            weight=term.weight,
            module=ctx.build_loss(term),
            needs_teacher=ctx.loss_needs_teacher(term),
            student_at=term.student,
            teacher_at=term.teacher,
            adapter=term.adapter,
        )
        for term in opts.losses
    ]


def distill(
    ctx: StageContext,
    opts: SearchOptions,
    model: nn.Module,
    teacher: nn.Module,
    *,
    data: DataBundle,
    epochs: int,
    seed: int,
    augment: Any = None,
    checkpoint: Path | None = None,
    bar: Any = None,
) -> FitResult:
    """Distill ``teacher`` into ``model`` (in place) with the stage's losses and optimizer.

    Args:
        checkpoint: A file the training state is saved to after every epoch and resumed from
            (a finalist's long training survives Ctrl-C); ``None``: none.
        bar: A progress bar (default: none drawn).
    """
    from compressor.training import fit
    from compressor.training.epoch_checkpoint import EpochCheckpoint

    return fit(
        model,
        data=data,
        losses=_loss_terms(ctx, opts),
        epochs=epochs,
        optimizer=opts.optimizer,
        batch_size=ctx.batch_size,
        eval_batch_size=ctx.eval_batch_size,
        device=ctx.device,
        seed=seed,
        bar=bar or _Quiet(),
        teachers=[teacher],
        cache_teacher=True,
        augment=augment,
        teacher_cache=ctx.run.teacher_cache,
        teacher_backend="torch",
        checkpoint=EpochCheckpoint(checkpoint) if checkpoint is not None else None,
        precision=ctx.run.recipe.precision,
    )


def short_distillation(
    ctx: StageContext,
    opts: SearchOptions,
    model: nn.Module,
    teacher: nn.Module,
    data: DataBundle,
    seed: int,
) -> float:
    """``short_epochs`` of distillation on the screening data, then the score on its
    validation rows (BatchNorm recalibrated first for a pruned model)."""
    distill(ctx, opts, model, teacher, data=data, epochs=opts.screening.short_epochs, seed=seed)
    return score_model(ctx, model, data.val)
