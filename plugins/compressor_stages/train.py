"""The ``train`` stage: fit a model on the labels alone (typically the teacher).

The model may start from weights (``model.weights``), train with some modules frozen
(``freeze``), and end with its BatchNorm statistics recalibrated (``recalibrate_bn``).
"""

from __future__ import annotations

from typing import Any

from compressor.context import StageContext
from compressor_stages.model_output import publish_model, spec_of, train_in_stage
from compressor_stages.model_training import frozen_in_stage, settle_batchnorm


class TrainStage:
    """Train a model with the stage's loss terms (which may not need a teacher)."""

    def __init__(self, options: Any) -> None:
        self.options = options

    def run(self, ctx: StageContext) -> None:
        """Build, train, settle BatchNorm statistics, save and publish the model."""
        opts = self.options
        model = ctx.build_model(opts.model)
        with frozen_in_stage(ctx, model, opts.freeze):
            result = train_in_stage(
                ctx,
                model,
                losses=opts.losses,
                epochs=opts.epochs,
                optimizer=opts.optimizer,
                augment=opts.augment,
            )
        settle_batchnorm(ctx, model, opts)
        publish_model(ctx, model, spec_of(opts.model), result)
