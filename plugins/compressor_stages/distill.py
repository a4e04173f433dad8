"""The ``distill`` stage: train a student on the teacher's soft targets and the labels."""

from __future__ import annotations

from typing import Any

from compressor.context import StageContext
from compressor_stages.model_output import publish_model, spec_of, train_in_stage


class DistillStage:
    """Knowledge distillation from one or more frozen teachers into a fresh student."""

    def __init__(self, options: Any) -> None:
        self.options = options

    def run(self, ctx: StageContext) -> None:
        """Build the student, distill it, save and publish it."""
        opts = self.options
        teachers = ctx.input("teacher")
        student = ctx.build_model(opts.model)
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
        ctx.log(teachers=[artifact.name for artifact in teachers])
        publish_model(ctx, student, spec_of(opts.model), result)
