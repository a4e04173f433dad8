"""The ``train`` stage: fit a model on the labels alone (typically the teacher)."""

from __future__ import annotations

from typing import Any

from compressor.context import StageContext
from compressor.training import fit
from compressor_stages.model_output import build_losses, publish_model, spec_of


class TrainStage:
    """Train a fresh model with the stage's loss terms (which may not need a teacher)."""

    def __init__(self, options: Any) -> None:
        self.options = options

    def run(self, ctx: StageContext) -> None:
        """Build, train, save and publish the model."""
        opts = self.options
        model = ctx.build_model(opts.model)
        steps = opts.epochs * -(-len(ctx.data.train) // ctx.batch_size)
        with ctx.progress(steps) as bar:
            result = fit(
                model,
                data=ctx.data,
                losses=build_losses(ctx, opts.losses),
                epochs=opts.epochs,
                optimizer=opts.optimizer,
                batch_size=ctx.batch_size,
                eval_batch_size=ctx.eval_batch_size,
                device=ctx.device,
                seed=ctx.seed(),
                bar=bar,
            )
        publish_model(ctx, model, spec_of(opts.model), result)
