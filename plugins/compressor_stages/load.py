"""The ``load`` stage: bring a model trained in an earlier run (a ``.pt`` checkpoint) into this one.

Typical use: train a teacher once, then distill many students from it in other recipes.
Checkpoints load with ``weights_only=True``; the architecture is rebuilt from the model
reference stored in the checkpoint, pruned layer sizes included.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from compressor.artifacts import ModelArtifact
from compressor.checkpoint import load_model
from compressor.context import StageContext
from compressor.errors import UsageError
from compressor.training import evaluate
from compressor_stages.model_output import count_parameters


class LoadStage:
    """Load a compressor checkpoint and publish it as a model artifact."""

    def __init__(self, options: Any) -> None:
        self.options = options

    def run(self, ctx: StageContext) -> None:
        """Load, check it fits the data, measure, publish."""
        path = Path(self.options.path).expanduser()
        model, extra = load_model(path, ctx.run.registry)
        data = ctx.data
        field = f"stages.{ctx.info.name}.path"
        if tuple(extra.get("input_shape", ())) != tuple(data.input_shape):
            raise UsageError(
                f"{field}: {path} takes inputs shaped {tuple(extra.get('input_shape', ()))}, but dataset "
                f"{data.name!r} has {tuple(data.input_shape)}"
            )
        if int(extra.get("num_classes", -1)) != data.num_classes:
            raise UsageError(
                f"{field}: {path} predicts {extra.get('num_classes')} classes, but dataset "
                f"{data.name!r} has {data.num_classes}"
            )
        model = model.to(ctx.device).eval()
        accuracy = evaluate(model, data.test, ctx.eval_batch_size, ctx.device)
        params = count_parameters(model)
        name = ctx.output_name("model")
        ctx.log(artifact=name, source=str(path), test_accuracy=accuracy, params=params)
        ctx.publish(
            ModelArtifact(name=name, model=model, spec=extra.get("spec", {}), path=path,
                          meta={"params": params, "test_accuracy": accuracy})
        )
