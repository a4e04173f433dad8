"""The ``load`` stage: bring a model trained in an earlier run (a ``.pt`` checkpoint) into this one.

Typical use: train a teacher once, then distill many students from it in other recipes.
Checkpoints load with ``weights_only=True``; the architecture is rebuilt from the model
reference stored in the checkpoint, pruned layer sizes included.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from compressor.artifacts import ModelArtifact
from compressor.context import StageContext, StageInfo
from compressor.errors import RecipeError, UsageError
from compressor.model.checkpoint import load_model
from compressor.preflight import Preflight
from compressor.training import evaluate
from compressor_stages.model_output import count_parameters


def check_fits(path: Path, extra: dict[str, Any], data: Any, field: str) -> None:
    """The checkpoint's input shape and class count match the recipe's dataset.

    Raises:
        UsageError: They do not, naming the field, the file and both shapes.
    """
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


def load_preflight(info: StageInfo, checker: Preflight) -> None:
    """The checkpoint loads and fits the data: ``validate`` catches a bad path, and ``run``
    fails before any earlier stage trains.

    Raises:
        RecipeError: Naming ``stages.NAME.path`` and what is wrong with the file.
    """
    field = f"stages.{info.name}.path"
    path = Path(info.options.path).expanduser()
    try:
        _, extra = load_model(path, checker.registry)
        check_fits(path, extra, checker.data, field)
    except RecipeError:
        raise
    except UsageError as error:
        raise RecipeError(field, str(error).removeprefix(f"{field}: "), value=str(path)) from None


class LoadStage:
    """Load a compressor checkpoint and publish it as a model artifact."""

    def __init__(self, options: Any) -> None:
        self.options = options

    def run(self, ctx: StageContext) -> None:
        """Load, check it fits the data, measure, publish."""
        path = Path(self.options.path).expanduser()
        model, extra = load_model(path, ctx.run.registry)
        data = ctx.data
        check_fits(path, extra, data, f"stages.{ctx.info.name}.path")
        model = model.to(ctx.device).eval()
        accuracy = evaluate(model, data.test, ctx.eval_batch_size, ctx.device)
        params = count_parameters(model)
        name = ctx.output_name("model")
        ctx.log(artifact=name, source=str(path), test_accuracy=accuracy, params=params)
        ctx.publish(
            ModelArtifact(
                name=name,
                model=model,
                spec=extra.get("spec", {}),
                path=path,
                meta={"params": params, "test_accuracy": accuracy},
            )
        )
