"""The ``distill`` stage: train a student on the teacher's soft targets and the labels."""

from __future__ import annotations

from typing import Any

from compressor.context import StageContext
from compressor.training import fit
from compressor_stages.model_output import build_losses, publish_model, spec_of


class DistillStage:
    """Knowledge distillation from one or more frozen teachers into a fresh student."""

    def __init__(self, options: Any) -> None:
        self.options = options

    def run(self, ctx: StageContext) -> None:
        """Build the student, distill it, save and publish it."""
        opts = self.options
        teachers = [artifact.model for artifact in ctx.input("teacher")]
        student = ctx.build_model(opts.model)
        steps = opts.epochs * -(-len(ctx.data.train) // ctx.batch_size)
        with ctx.progress(steps) as bar:
            result = fit(
                student,
                data=ctx.data,
                losses=build_losses(ctx, opts.losses),
                epochs=opts.epochs,
                optimizer=opts.optimizer,
                batch_size=ctx.batch_size,
                eval_batch_size=ctx.eval_batch_size,
                device=ctx.device,
                seed=ctx.seed(),
                bar=bar,
                teachers=teachers,
                cache_teacher=opts.cache_teacher,
            )
        ctx.log(teachers=[artifact.name for artifact in ctx.input("teacher")])
        publish_model(ctx, student, spec_of(opts.model), result)
