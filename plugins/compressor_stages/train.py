"""The ``train`` stage: fit a model on the labels alone (typically the teacher)."""

from __future__ import annotations

from typing import Any

from compressor.context import StageContext
from compressor_stages.model_output import publish_model, spec_of, train_in_stage


class TrainStage:
    """Train a fresh model with the stage's loss terms (which may not need a teacher)."""

    def __init__(self, options: Any) -> None:
        self.options = options

    def run(self, ctx: StageContext) -> None:
        """Build, train, save and publish the model."""
        opts = self.options
        model = ctx.build_model(opts.model)
        result = train_in_stage(
            ctx,
            model,
            losses=opts.losses,
            epochs=opts.epochs,
            optimizer=opts.optimizer,
            augment=opts.augment,
        )
        publish_model(ctx, model, spec_of(opts.model), result)
