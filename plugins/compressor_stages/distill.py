"""The ``distill`` stage: train a student on the teacher's soft targets and the labels.

As in ``train``, the student may start from weights, train with modules frozen and end with
its BatchNorm statistics recalibrated. ``transfer`` adds unlabelled data the student learns
from the teacher alone (:mod:`compressor_stages.distill_transfer`); on streamed data the
teacher's outputs are kept on disk in the run's cache folder, reused by later runs. Transfer
rows that are the recipe's validation or test rows are refused unless the recipe acknowledges
them (:mod:`compressor_stages.transfer_overlap`).
"""

from __future__ import annotations

from typing import Any

from compressor.context import StageContext
from compressor_stages.distill_transfer import teacher_store, transfer_split
from compressor_stages.model_output import publish_model, spec_of, train_in_stage
from compressor_stages.model_training import frozen_in_stage, settle_batchnorm
from compressor_stages.transfer_overlap import held_out_overlap


class DistillStage:
    """Knowledge distillation from one or more frozen teachers into a student."""

    def __init__(self, options: Any) -> None:
        self.options = options

    def run(self, ctx: StageContext) -> None:
        """Build the student, distill it, settle BatchNorm statistics, save and publish it."""
        opts = self.options
        teachers = ctx.input("teacher")
        transfer = transfer_split(ctx, opts.transfer) if opts.transfer is not None else None
        # Refused unless acknowledged: the teacher's answers on held-out rows.
        overlap = held_out_overlap(ctx, opts.transfer, transfer) if transfer is not None else None
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
                transfer=transfer,
                transfer_mode=opts.transfer_mode,
                teacher_store=teacher_store(ctx, teachers, opts),
            )
        settle_batchnorm(ctx, student, opts)
        ctx.log(teachers=[artifact.name for artifact in teachers])
        if transfer is not None:
            ctx.log(transfer_rows=len(transfer), transfer_mode=opts.transfer_mode)
        if overlap is not None:
            ctx.log(transfer_overlap=overlap)
        publish_model(ctx, student, spec_of(opts.model), result)
