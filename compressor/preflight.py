"""Checks that need the data, the models and the plugins' code, run before any stage trains.

The recipe validator checks names, options and the artifact flow without torch. Some mistakes
only show with real objects: a module path in a feature loss, an ignored layer in a prune
stage. Stages that can make such mistakes register a ``preflight`` callable; it receives an
untrained instance of every model artifact (built from the architecture that produces it) and
the dataset, and raises :class:`~compressor.errors.RecipeError` before anything is trained.

Before those, :func:`check_factories` imports the factory of every plugin the recipe uses, so
a plugin whose module cannot be imported (a dependency it needs is not installed) is an error
naming the recipe field and the plugin, from ``compressor validate`` and before a run trains,
rather than a bare ``ModuleNotFoundError`` halfway through the run.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel

from compressor.errors import RecipeError, UsageError, one_line
from compressor.records import Factory, PluginRecord, resolve_factory
from compressor.schemas import ModelRef, PluginRef

if TYPE_CHECKING:
    from torch import nn

    from compressor.data import DataBundle
    from compressor.plan import Plan
    from compressor.plugin.registry import Registry
    from compressor.task import Task


def load_data(
    plan: Plan,
    registry: Registry,
    *,
    progress: Any = None,
    decode: bool = True,
    task: Task | None = None,
) -> DataBundle:
    """Load the recipe's dataset with its fixed split, in memory or streamed as ``data`` says.

    Args:
        plan: The run's plan.
        registry: Its registry.
        progress: Where the run prints which it chose (:func:`compressor.data.prepare_bundle`).
        decode: ``False`` (``compressor validate``) decodes no more than one sample.
        task: The run's task (default: the recipe's, built here).

    Raises:
        RecipeError: The dataset plugin's factory cannot be imported (see
            :func:`check_factories`), ``data.preprocess`` does not apply to its data, or its
            targets do not suit the task.
    """
    from compressor.context import build_task, task_bundle

    ref = data_config(plan, registry)
    record = registry.get("dataset", ref.dataset)
    factory = imported_factory(record, record.factory, "data.dataset")
    task = task if task is not None else build_task(plan.recipe, registry)
    raw = factory(ref.parsed, seed=ref.split_seed)
    data = task_bundle(raw, record, ref, task, decode=decode)
    if progress is not None and data.placement is not None:
        progress.print(data.placement.line(data.name), markup=False, highlight=False)
    return data


def data_config(plan: Plan, registry: Registry) -> Any:
    """The recipe's ``data`` section, with ``preprocess.from_weights`` filled in.

    The fields ``data.preprocess`` leaves unset take the values of the named weights' own
    preparation (``weights.transforms()`` for torchvision, the pretrained configuration for
    timm): resize, center crop, interpolation, mean and std. Given fields stay.

    Raises:
        RecipeError: ``from_weights`` names no stage, or a stage without a model that has
            named pretrained weights; names ``data.preprocess.from_weights``.
    """
    data = plan.recipe.data
    spec = data.preprocess
    stage = getattr(spec, "from_weights", None)
    if spec is None or stage is None:
        return data
    from compressor.data.preprocess import INTERPOLATIONS
    from compressor.model.building import pretrained_preprocessing

    field = "data.preprocess.from_weights"
    found: dict[str, dict[str, Any]] = {}
    for info in plan.stages:
        for _, ref in plugin_refs(info.options, f"stages.{info.name}"):
            if isinstance(ref, ModelRef) and info.name not in found:
                try:
                    prepared = pretrained_preprocessing(ref, registry)
                except UsageError:  # a bad weights name: building that model reports it
                    continue
                if prepared:
                    found[info.name] = prepared
    if stage not in found:
        raise RecipeError(
            field,
            f"stage {stage!r} has no model with named pretrained weights (weights: DEFAULT, "
            "IMAGENET1K_V1, ...)" + ("" if found else "; no stage's model has any"),
            value=stage,
            choices=sorted(found) or None,
        )
    weights = found[stage]
    interpolation = weights.get("interpolation")
    filled = {
        "resize": spec.resize if spec.resize is not None else weights["resize_size"],
        "center_crop": spec.center_crop or list(weights["input_size"][1:]),
        "mean": spec.mean if spec.mean is not None else list(weights["mean"]),
        "std": spec.std if spec.std is not None else list(weights["std"]),
    }
    if "interpolation" not in spec.model_fields_set and interpolation in INTERPOLATIONS:
        filled["interpolation"] = interpolation
    return data.model_copy(update={"preprocess": spec.model_copy(update=filled)})


def plugin_refs(value: Any, field: str) -> Iterator[tuple[str, PluginRef]]:
    """Every plugin reference inside ``value``, at any depth of models and lists, with its field.

    Args:
        value: Validated options (a pydantic model), a list, or anything else (no references).
        field: The recipe field of ``value``, e.g. ``stages.distill``.

    Returns:
        ``(field, reference)`` pairs, e.g. ``("stages.distill.losses[0]", LossTerm(...))``.
    """
    if isinstance(value, PluginRef):
        yield field, value
    if isinstance(value, BaseModel):
        for name in type(value).model_fields:
            yield from plugin_refs(getattr(value, name), f"{field}.{name}")
    elif isinstance(value, list):
        for i, item in enumerate(value):
            yield from plugin_refs(item, f"{field}[{i}]")


def imported_factory(record: PluginRecord, factory: Factory, field: str) -> Callable[..., Any]:
    """``factory`` of ``record``, imported: the callable it names.

    Raises:
        RecipeError: Importing it failed; the message names ``field``, the record's kind,
            name and plugin, the import path and why it failed.
    """
    try:
        return resolve_factory(factory)
    except Exception as error:  # whatever a plugin's module raises: name the plugin
        raise RecipeError(
            field,
            f"{record.kind} {record.name!r} of plugin {record.source or 'unknown'} cannot be "
            f"used: importing {factory!r} failed with {one_line(error)}; install what the "
            "plugin needs, or fix or uninstall it",
            value=record.name,
        ) from error


def check_factories(plan: Plan, registry: Registry) -> None:
    """Import the factory (and preflight check) of every plugin the recipe uses.

    Importing is cheap for well-behaved plugins (their hook modules name factories by import
    path, and the factory modules import heavy libraries inside functions), and it is the
    only way to know that a plugin's module and what it imports are installed.

    Raises:
        RecipeError: The first factory that cannot be imported, naming the recipe field.
    """
    dataset = registry.get("dataset", plan.recipe.data.dataset)
    imported_factory(dataset, dataset.factory, "data.dataset")
    for info in plan.stages:
        stage = registry.get("stage", info.type)
        for factory in (stage.factory, stage.preflight):
            if factory is not None:
                imported_factory(stage, factory, f"stages[{info.index}].type")
        for field, ref in plugin_refs(info.options, f"stages.{info.name}"):
            record = registry.get(ref.kind, ref.name)
            imported_factory(record, record.factory, f"{field}.name")


def model_refs(plan: Plan) -> Iterator[tuple[str, ModelRef]]:
    """Every model entry of every stage, with its recipe field (``stages.student.model``)."""
    for info in plan.stages:
        for field, ref in plugin_refs(info.options, f"stages.{info.name}"):
            if isinstance(ref, ModelRef):
                yield model_field(info.options, ref, field), ref


def model_field(options: Any, ref: ModelRef, field: str) -> str:
    """Where a model entry's own fields are set: ``field``, or the stage itself for a stage
    that takes ``weights:`` beside ``model:`` (``load``), so that errors name the field to fix."""
    given = getattr(options, "weights", None)
    if given is not None and getattr(options, "model", None) is ref and given == ref.weights:
        return field.removesuffix(".model")
    return field


def weights_files(options: Any) -> list[str]:
    """The weights files the model entries in a stage's ``options`` read (not weights names).

    The stage cache keys on their content: a file replaced under the same name reruns the stage.
    """
    found = []
    for _, ref in plugin_refs(options, ""):
        if isinstance(ref, ModelRef) and ref.weights is not None:
            path = Path(ref.weights).expanduser()
            if path.is_file():
                found.append(str(path))
    return found


def artifact_architectures(plan: Plan) -> dict[str, ModelRef]:
    """artifact name -> the model reference that builds its architecture.

    A stage with a ``model`` option and a ``model`` output produces that architecture; a stage
    that turns an input ``model`` into an output ``model`` (pruning) keeps the input's module
    paths, so its output maps to the same reference.
    """
    found: dict[str, ModelRef] = {}
    for info in plan.stages:
        output = info.outputs.get("model")
        if not isinstance(output, str):
            continue
        ref = getattr(info.options, "model", None)
        if isinstance(ref, ModelRef):
            found[output] = ref
        elif isinstance(info.inputs.get("model"), str) and info.inputs["model"] in found:
            found[output] = found[info.inputs["model"]]
    return found


class Preflight:
    """What a stage's preflight check gets: the data and untrained models."""

    def __init__(self, plan: Plan, registry: Registry, data: DataBundle) -> None:
        self.plan = plan
        self.registry = registry
        self.data = data
        self._built: dict[str, nn.Module] = {}
        # id(reference) -> model; the references live as long as the plan.
        self._by_ref: dict[int, nn.Module] = {}

    @cached_property
    def task(self) -> Task:
        """The recipe's task (its ``task:``, else the dataset's)."""
        from compressor.context import build_task

        return build_task(self.plan.recipe, self.registry)

    @cached_property
    def architectures(self) -> dict[str, ModelRef]:
        """artifact name -> model reference (see :func:`artifact_architectures`)."""
        return artifact_architectures(self.plan)

    def build(self, ref: ModelRef, field: str = "model") -> nn.Module:
        """The model ``ref`` describes for the recipe's data, weights loaded, not trained.

        Built once per reference: :func:`run_preflight` builds every model of the recipe
        first (naming ``field`` in errors), and stages' checks get the same instances.

        Raises:
            RecipeError: Bad ``width``, ``weights`` or ``head``, naming ``field``.
        """
        # Builds the same way StageContext.build_model does (allowed in pyproject.toml).
        from compressor.context import data_facts
        from compressor.model.building import build_model

        if id(ref) not in self._by_ref:
            self._by_ref[id(ref)] = build_model(
                ref,
                self.registry,
                input_shape=tuple(self.data.input_shape),
                num_classes=self.data.num_classes,
                field=field,
                task=self.task,
                data_facts=data_facts(self.data),
            ).model
        return self._by_ref[id(ref)]

    def model(self, artifact: str) -> nn.Module | None:
        """An untrained instance of ``artifact``'s architecture, or ``None`` if unknown."""
        if artifact not in self._built:
            ref = self.architectures.get(artifact)
            if ref is None:
                return None
            self._built[artifact] = self.build(ref)
        return self._built[artifact]


def run_preflight(plan: Plan, registry: Registry, data: DataBundle) -> None:
    """Import every factory the recipe uses (:func:`check_factories`), then run every stage's
    preflight check, in recipe order.

    Every model of every stage is built first, whatever the stages are, its weights file
    loaded into it: an import target that does not exist, a missing or mismatched weights file
    fails here, not when its stage starts.

    Raises:
        RecipeError: The first problem found, naming the field.
    """
    check_factories(plan, registry)
    checker = Preflight(plan, registry, data)
    for field, ref in model_refs(plan):
        try:
            checker.build(ref, field)
        except RecipeError:
            raise
        except UsageError as error:  # the builder's own: an import target that does not exist
            raise RecipeError(field, str(error), value=ref.name) from None
    for info in plan.stages:
        record = registry.get("stage", info.type)
        if record.preflight is not None:
            imported_factory(record, record.preflight, f"stages[{info.index}].type")(info, checker)
