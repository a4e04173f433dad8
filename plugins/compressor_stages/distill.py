"""The ``distill`` stage: train a student on the teacher's soft targets and the labels.

As in ``train``, the student may start from weights, train with modules frozen and end with
its BatchNorm statistics recalibrated.
"""

from __future__ import annotations

from typing import Any

from compressor.context import StageContext
from compressor_stages.model_output import publish_model, spec_of, train_in_stage
from compressor_stages.model_training import frozen_in_stage, settle_batchnorm


class DistillStage:
    """Knowledge distillation from one or more frozen teachers into a student."""

    def __init__(self, options: Any) -> None:
        self.options = options

    def run(self, ctx: StageContext) -> None:
        """Build the student, distill it, settle BatchNorm statistics, save and publish it."""
        opts = self.options
        teachers = ctx.input("teacher")
        student = ctx.build_model(opts.model)
        with frozen_in_stage(ctx, student, opts.freeze):
            result = train_in_stage(
                ctx,
                student,
                losses=opts.losses,
                epochs=opts.epochs,
                optimizer=opts.optimizer,
                teachers=[artifact.model for artifact in teachers],
                teacher_names=[artifact.name for artifact in teachers],
                cache_teacher=opts.cache_teacher,
                teacher_backend=opts.teacher_backend,
                augment=opts.augment,
            )
        settle_batchnorm(ctx, student, opts)
        ctx.log(teachers=[artifact.name for artifact in teachers])
        publish_model(ctx, student, spec_of(opts.model), result)
