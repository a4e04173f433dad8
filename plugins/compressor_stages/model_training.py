"""What the train and distill stages do around the training loop: freezing modules, and
BatchNorm statistics that match the data at the end.

After training, a stage either recalibrates BatchNorm running statistics on training batches
(``recalibrate_bn: {batches: N}``) and logs the validation metric before and after, or checks
that they did not fall behind: when the model scores much better on the validation split with
each batch's own statistics than with its running ones, it warns and says to recalibrate.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import torch
from torch import nn

from compressor.context import StageContext
from compressor.data import iterate_batches
from compressor.model.batchnorm import batch_statistics, batchnorm_layers, recalibrate
from compressor.model.freezing import frozen
from compressor.training.evaluation import as_arrays
from compressor.training.features import find_module

#: Validation accuracy lost to lagging running statistics beyond which a stage warns.
LAG_WARNING = 0.10
#: Seed offset of the batches BatchNorm statistics are recalibrated on.
RECALIBRATION_SEED = 3


@contextmanager
def frozen_in_stage(ctx: StageContext, model: nn.Module, paths: list[str]) -> Iterator[None]:
    """The stage's ``freeze:`` modules of ``model`` frozen while the block runs (logged)."""
    if not paths:
        yield
        return
    field = f"stages.{ctx.info.name}.freeze"
    modules = [find_module(model, path, f"{field}[{i}]") for i, path in enumerate(paths)]
    with frozen(modules) as count:
        ctx.log(frozen={"modules": list(paths), "tensors": count})
        yield


def _training_inputs(ctx: StageContext) -> Iterator[torch.Tensor]:
    generator = torch.Generator().manual_seed(ctx.seed(RECALIBRATION_SEED))
    for _, x, _ in iterate_batches(
        ctx.data.train, ctx.batch_size, shuffle=True, generator=generator
    ):
        yield x.to(ctx.device)


def recalibrate_in_stage(ctx: StageContext, model: nn.Module, batches: int) -> dict[str, Any]:
    """Recalibrate ``model``'s BatchNorm statistics on training batches, measuring around it.

    Returns:
        ``batches`` used and the validation metric before and after (``val_accuracy_before``,
        ``val_accuracy_after``; empty without BatchNorm layers).
    """
    if not batchnorm_layers(model):
        return {}
    before = ctx.evaluate(model, "val")
    used = recalibrate(model, _training_inputs(ctx), batches)
    after = ctx.evaluate(model, "val")
    val = ctx.figure("val")
    return {"batches": used, f"{val}_before": before, f"{val}_after": after}


@torch.no_grad()
def batch_statistics_metric(ctx: StageContext, model: nn.Module) -> float:
    """The validation metric with BatchNorm normalizing by each batch's statistics, as in
    training."""
    split, task = ctx.data.val, ctx.task
    # Chunks of near-equal size, none of a single row (BatchNorm1d needs two in train mode).
    chunks = max(1, min(-(-len(split) // ctx.eval_batch_size), len(split) // 2))
    scorer = task.scorer(ctx.data)
    deployed = task.deployable(model)  # not put in eval mode: batch_statistics decides
    with batch_statistics(model):
        for rows in torch.arange(len(split)).tensor_split(chunks):
            x, y = split.take(rows).to(ctx.device), split.labels[rows]
            scorer.update(as_arrays(deployed(x)), y.numpy())
    return float(scorer.compute()[task.metric.key])


def settle_batchnorm(ctx: StageContext, model: nn.Module, options: Any) -> None:
    """At the end of a training stage: recalibrate (``recalibrate_bn``) or check for lag.

    Logs ``bn_recalibration`` (batches, validation accuracy before and after) or, when the
    running statistics cost more than :data:`LAG_WARNING` of validation accuracy, warns and
    logs ``bn_statistics_lag``.
    """
    if not batchnorm_layers(model) or len(ctx.data.val) < 2:
        return
    setting = getattr(options, "recalibrate_bn", None)
    if setting is not None:
        ctx.log(bn_recalibration=recalibrate_in_stage(ctx, model, setting.batches))
        return
    running = ctx.evaluate(model, "val")
    batch = batch_statistics_metric(ctx, model)
    if batch - running > LAG_WARNING:
        ctx.log(bn_statistics_lag={ctx.figure("val"): running, "batch_statistics": batch})
        label = ctx.task.metric.label
        ctx.run.progress.warn(
            f"stages.{ctx.info.name}: validation {label} is {running:.1%} with the BatchNorm "
            f"running statistics but {batch:.1%} with each batch's own: the statistics lag "
            "behind the data (low momentum, short schedule); add recalibrate_bn: {batches: 20} "
            "to the stage"
        )
