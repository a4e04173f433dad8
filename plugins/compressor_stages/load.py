"""The ``load`` stage: bring a model from elsewhere into a run, used as it is (no training).

Three sources:

- ``path: teacher.pt``, a checkpoint an earlier compressor run wrote: the architecture is
  rebuilt from the model reference stored in it, pruned layer sizes included;
- ``path: teacher.onnx``, an ONNX file: it runs in onnxruntime and can teach logit losses;
- ``model:`` with ``weights:``, any registered or imported architecture and a ``state_dict``
  file (or a weights name such as ``DEFAULT``): a pretrained network you already have.

Files load with ``weights_only=True``. Nothing is trained and no BatchNorm statistic moves:
the model is measured in eval mode and published.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from torch import nn

from compressor.artifacts import ModelArtifact
from compressor.context import StageContext, StageInfo
from compressor.data import head
from compressor.errors import RecipeError, UsageError, one_line
from compressor.model.checkpoint import load_model
from compressor.preflight import Preflight, model_field
from compressor_stages.model_output import count_parameters, spec_of, split_figures


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


def is_onnx(path: Path) -> bool:
    """Whether ``path`` names an ONNX file (by its suffix)."""
    return path.suffix.lower() == ".onnx"


def load_onnx_teacher(path: Path, data: Any, field: str) -> tuple[nn.Module, int]:
    """The ONNX file as a teacher module for ``data``, and its parameter count.

    Raises:
        UsageError: Unreadable, or it cannot take the data's samples, or does not return
            ``(batch, num_classes)`` logits; names ``field``.
    """
    from compressor.onnx.inspection import check_sample_shape, count_params, load_onnx
    from compressor.training.fast_teacher import OnnxFileTeacher

    try:
        teacher = OnnxFileTeacher(path, data.mean, data.std)
        check_sample_shape(
            teacher.spec, tuple(data.input_shape), f"dataset {data.name!r}", path.name
        )
        try:
            got = tuple(teacher(head(data.train, 2)).shape)
        except Exception as exc:  # noqa: BLE001 - onnxruntime's errors: the file cannot run here
            raise UsageError(f"{path.name} cannot run on the data ({one_line(exc, 200)})") from None
        if got != (min(2, len(data.train)), data.num_classes):
            raise UsageError(
                f"{path.name} must return logits shaped (batch, {data.num_classes}) for dataset "
                f"{data.name!r}, got {got}"
            )
    except UsageError as error:
        raise UsageError(f"{field}: {error}") from None
    return teacher, count_params(load_onnx(path))


def load_preflight(info: StageInfo, checker: Preflight) -> None:
    """The file loads and fits the data: ``validate`` catches a bad path, and ``run`` fails
    before any earlier stage trains. (``model:`` with ``weights:`` is built, weights loaded,
    with every other model of the recipe, before this runs.)

    Raises:
        RecipeError: Naming ``stages.NAME.path`` and what is wrong with the file.
    """
    if info.options.path is None:
        return
    field = f"stages.{info.name}.path"
    path = Path(info.options.path).expanduser()
    try:
        if is_onnx(path):
            if not checker.task.class_logits:
                raise UsageError(
                    f"an ONNX file teaches through class logits, and {checker.task.name} models "
                    "do not output them; load its checkpoint (.pt) or its model with weights:"
                )
            load_onnx_teacher(path, checker.data, field)
        else:
            _, extra = load_model(path, checker.registry)
            check_fits(path, extra, checker.data, field)
    except RecipeError:
        raise
    except UsageError as error:
        raise RecipeError(field, str(error).removeprefix(f"{field}: "), value=str(path)) from None


class LoadStage:
    """Load a checkpoint, an ONNX file or a model's weights, and publish it as a model artifact."""

    def __init__(self, options: Any) -> None:
        self.options = options

    def _load(self, ctx: StageContext) -> tuple[nn.Module, dict[str, Any], Path | None, int]:
        """The model, its spec, the file it came from, and its parameter count."""
        opts, data = self.options, ctx.data
        if opts.model is not None:
            field = model_field(opts, opts.model, f"stages.{ctx.info.name}.model")
            model = ctx.build_model(opts.model, field)
            weights = Path(opts.model.weights).expanduser()
            return model, spec_of(opts.model), weights if weights.is_file() else None, -1
        path = Path(opts.path).expanduser()
        field = f"stages.{ctx.info.name}.path"
        if is_onnx(path):
            teacher, params = load_onnx_teacher(path, data, field)
            return teacher, {"name": "onnx", "options": {"path": str(path)}}, path, params
        model, extra = load_model(path, ctx.run.registry)
        check_fits(path, extra, data, field)
        return model, extra.get("spec", {}), path, -1

    def run(self, ctx: StageContext) -> None:
        """Load, check it fits the data, measure in eval mode, publish."""
        model, spec, path, params = self._load(ctx)
        model = model.to(ctx.device).eval()
        figures = split_figures(ctx, model, "test")
        params = params if params >= 0 else count_parameters(model)
        name = ctx.output_name("model")
        source = str(path) if path is not None else str(self.options.model.weights)
        ctx.log(artifact=name, source=source, **figures, params=params)
        headline = ctx.figure("test")
        ctx.publish(
            ModelArtifact(
                name=name,
                model=model,
                spec=spec,
                path=path,
                meta={"params": params, headline: figures[headline]},
            )
        )
