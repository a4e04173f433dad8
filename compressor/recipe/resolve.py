"""Resolving a validated recipe against the registry, into the :class:`~compressor.plan.Plan`.

Every plugin name must be registered, every ``options`` mapping must pass that plugin's own
schema, every stage input must be produced by an earlier stage, no artifact may be produced
twice, and no two artifacts (nor an artifact and the run folder's own files) may be written to
the same file (:func:`output_file`). The first problem is a
:class:`~compressor.errors.RecipeError` naming the field.

:func:`resolve_refs` and :func:`stage_outputs` are also what
:func:`compressor.testing.check_stage` uses, so a stage checked alone is wired exactly as a
recipe would wire it.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel

from compressor.errors import RecipeError, UnknownNameError
from compressor.plan import Plan, StageInfo, artifact_names
from compressor.plugin.conflicts import NameConflictError
from compressor.recipe.messages import validate
from compressor.recipe.models import NAME_EXPECTED, NAME_PATTERN, STAGE_KEYS, Recipe, StageConfig
from compressor.recipe.task_fit import check_task_fit, task_losses
from compressor.recipe.values import check_values
from compressor.records import FILE_BY_NAME
from compressor.schemas import PluginRef, TaskRef

if TYPE_CHECKING:
    from compressor.plugin.registry import Registry
    from compressor.records import Role, StagePlugin
    from compressor.task import Task

Slots = dict[str, str | list[str]]


def lookup(registry: Registry, kind: str, name: str, field: str) -> Any:
    """The record registered as ``name`` for ``kind``.

    Raises:
        RecipeError: Unknown name, at ``field``, with the valid choices (and the plugins that
            failed to load, since the name may have been theirs); or a name several plugins
            registered, at ``field``, naming each of them.
    """
    try:
        return registry.get(kind, name)
    except NameConflictError as exc:
        raise RecipeError(field, str(exc), value=name) from None
    except UnknownNameError as exc:
        detail = str(exc).split(";")[0]
        if exc.not_loaded:
            # The name may belong to a plugin that failed to load: say which, or it looks like a typo.
            detail += f" (not loaded: {', '.join(exc.not_loaded)})"
        raise RecipeError(field, detail, value=name, choices=exc.choices) from None


def broken_reasons(registry: Registry) -> dict[str, str]:
    """plugin name -> why it is broken, for every plugin that failed to import or whose
    registration hook failed."""
    return {name: info.error for name, info in registry.pm.infos.items() if info.error}


def registered(registry: Registry, kind: str, name: str, field: str) -> Any:
    """:func:`lookup`, and when the name is unknown while plugins are broken, why they are.

    The name may be one a broken plugin would have registered; "not loaded" alone would send
    the user to ``compressor plugins`` to find out what broke.

    Raises:
        RecipeError: Unknown name, at ``field``, with the valid choices and what broke.
    """
    try:
        return lookup(registry, kind, name, field)
    except RecipeError as error:
        # Said once: a message that already gives a reason is left as it is.
        reasons = [
            f"{n}: {why}" for n, why in broken_reasons(registry).items() if why not in str(error)
        ]
        if not reasons:
            raise
        raise RecipeError(
            error.field,
            f"{error.detail} (why: {'; '.join(reasons)})",
            value=error.value,
            choices=error.choices,
        ) from None


def resolve_refs(value: Any, registry: Registry, field: str) -> None:
    """Validate every plugin reference inside ``value`` against its plugin's own schema.

    Each :class:`~compressor.schemas.PluginRef` found (at any depth of models and lists) gets
    its options parsed by the plugin's schema and its defaults filled in, in place.

    Raises:
        RecipeError: An unknown plugin name or rejected options, naming the field.
    """
    if isinstance(value, PluginRef):
        record = registered(registry, value.kind, value.name, f"{field}.name")
        parsed = validate(record.options, value.options, f"{field}.options")
        value._parsed = parsed
        value.options = parsed.model_dump(mode="json")
        for sub_field, message in value.check(record):
            raise RecipeError(f"{field}.{sub_field}", message)
    if isinstance(value, BaseModel):
        for name in type(value).model_fields:
            resolve_refs(getattr(value, name), registry, f"{field}.{name}")
    elif isinstance(value, list):
        for i, item in enumerate(value):
            resolve_refs(item, registry, f"{field}[{i}]")


def _slots(given: Slots, declared: dict[str, Role], field: str, direction: str) -> Slots:
    """``given`` checked against the declared slots, ``many`` slots as lists."""
    slots: Slots = {}
    for slot, names in given.items():
        role = declared.get(slot)
        if role is None:
            raise RecipeError(
                f"{field}.{slot}", f"unknown {direction} slot", value=slot, choices=declared
            )
        if role.many:
            slots[slot] = [names] if isinstance(names, str) else list(names)
        elif isinstance(names, list):
            raise RecipeError(
                f"{field}.{slot}", f"takes one artifact name, got a list {names!r}", value=names
            )
        else:
            slots[slot] = names
    return slots


def stage_inputs(record: StagePlugin, given: Slots, field: str) -> Slots:
    """A stage's input slots as the recipe fills them.

    Raises:
        RecipeError: An unknown slot, a list in a one-name slot, or a required slot left out.
    """
    inputs = _slots(given, record.inputs, f"{field}.inputs", "input")
    for slot, role in record.inputs.items():
        if role.required and slot not in inputs:
            raise RecipeError(
                f"{field}.inputs.{slot}", f"required input is missing ({role.description})"
            )
    return inputs


def stage_outputs(
    record: StagePlugin,
    name: str,
    given: Slots,
    inputs: Slots,
    options: Any,
    registry: Registry,
    field: str,
) -> Slots:
    """A stage's output names: the recipe's, then the stage's defaults, then the stage name.

    Args:
        record: The stage plugin.
        name: The stage's name in the recipe.
        given: The recipe's ``outputs`` mapping.
        inputs: The resolved inputs (``default_outputs`` may derive names from them).
        options: The validated stage options.
        registry: Passed on to the stage's ``default_outputs``.
        field: The recipe field of the stage, for errors.

    Raises:
        RecipeError: An unknown slot, or a list in a one-name slot.
    """
    outputs = _slots(given, record.outputs, f"{field}.outputs", "output")
    if record.default_outputs is not None:
        for slot, names in record.default_outputs(inputs, options, registry).items():
            outputs.setdefault(slot, names)
    for slot, role in record.outputs.items():
        if slot not in outputs and role.required and not role.many:
            # A stage named "teacher" produces the artifact "teacher" unless told otherwise.
            outputs[slot] = name
    return outputs


def _check_flow(
    field: str, name: str, inputs: Slots, outputs: Slots, producers: dict[str, str]
) -> None:
    """Inputs must come from earlier stages; outputs need valid, unclaimed names.

    Records this stage as the producer of its outputs in ``producers``.
    """
    for slot, names in inputs.items():
        for artifact in artifact_names(names):
            if artifact not in producers:
                raise RecipeError(
                    f"{field}.inputs.{slot}",
                    f"artifact {artifact!r} is not produced by any earlier stage",
                    value=artifact,
                    choices=producers,
                )
    for slot, names in outputs.items():
        for artifact in artifact_names(names):
            if not re.match(NAME_PATTERN, artifact):
                raise RecipeError(
                    f"{field}.outputs.{slot}",
                    f"invalid artifact name {artifact!r}: expected {NAME_EXPECTED['expected']}",
                )
            if artifact in producers:
                raise RecipeError(
                    f"{field}.outputs.{slot}",
                    f"artifact {artifact!r} is already produced by stage "
                    f"{producers[artifact]!r}; each artifact has one producer",
                    value=artifact,
                )
            producers[artifact] = name


#: The run folder's own files (and its folder of epoch checkpoints, compressor.context's
#: CHECKPOINT_DIR), with what each holds: an artifact must not be written over one of them.
RUN_FOLDER_FILES = {
    "recipe.yaml": "the resolved recipe",
    "metrics.json": "the run's metrics",
    "report.md": "the report",
    "report.html": "the report's page",
    "error.txt": "a failed run's error",
    "completed_stages.json": "the stages --resume keeps",
    "training_curves.png": "the report's training curves",
    "checkpoints": "the epoch checkpoints",
}
#: The plots the report draws for each stage of type ``benchmark`` (compressor.report.plots).
BENCHMARK_PLOTS = ("{stage}_accuracy_vs_latency.png", "{stage}_sizes.png")


def output_file(role: Role, artifact: str) -> str | None:
    """The run-folder file that an output slot's artifact ``artifact`` is written to, if any.

    Applies the slot's :attr:`~compressor.records.Role.file` pattern; by default a name with a
    suffix (``student.onnx``) is its own file and any other name is a model, ``NAME.pt``.

    Example:
        >>> from compressor.records import Role
        >>> output_file(Role(file="{name}.pt"), "teacher"), output_file(Role(), "student.onnx")
        ('teacher.pt', 'student.onnx')
    """
    if role.file == FILE_BY_NAME:
        return artifact if "." in artifact[1:] else f"{artifact}.pt"
    return None if role.file is None else role.file.replace("{name}", artifact)


def _run_folder_files(stages: list[StageInfo]) -> dict[str, str]:
    """The run folder's own files for these stages, each with what it holds."""
    owned = dict(RUN_FOLDER_FILES)
    for info in stages:
        if info.type == "benchmark":
            for plot in BENCHMARK_PLOTS:
                owned[plot.format(stage=info.name)] = f"the report's plot of stage {info.name!r}"
    return owned


def _check_output_files(stages: list[StageInfo], registry: Registry) -> None:
    """No two artifacts, nor an artifact and the run folder's own files, are one file.

    Names are compared ignoring case, as the file systems of macOS and Windows do.

    Raises:
        RecipeError: At the later output, naming both artifacts, their stages and the file.
    """
    owned = {file.casefold(): what for file, what in _run_folder_files(stages).items()}
    written: dict[str, tuple[str, str]] = {}
    for info in stages:
        record = registry.get("stage", info.type)
        for slot, names in info.outputs.items():
            for artifact in artifact_names(names):
                file = output_file(record.outputs[slot], artifact)
                if file is None:
                    continue
                key = file.casefold()
                claim = f"artifact {artifact!r} of stage {info.name!r} would be written to {file}"
                what = owned.get(key) or owned.get(key.split("/")[0])
                if what is not None:
                    raise RecipeError(
                        f"stages.{info.name}.outputs.{slot}",
                        f"{claim}, where the run folder keeps {what}; give the artifact another "
                        "name in the stage's outputs",
                        value=artifact,
                    )
                if key in written:
                    other, producer = written[key]
                    raise RecipeError(
                        f"stages.{info.name}.outputs.{slot}",
                        f"{claim}, the file stage {producer!r} writes for artifact {other!r}; "
                        "give one of them another name in its stage's outputs",
                        value=artifact,
                    )
                written[key] = (artifact, info.name)


def _resolve_stage(
    index: int,
    stage: StageConfig,
    name: str,
    registry: Registry,
    producers: dict[str, str],
    task: Task,
) -> StageInfo:
    """One ``stages:`` entry: its type, options, plugin references, inputs and outputs."""
    field = f"stages.{name}"
    record = registered(registry, "stage", stage.type, f"stages[{index}].type")
    options = validate(record.options, stage.options, field, STAGE_KEYS)
    task_losses(options, task, registry, field)
    resolve_refs(options, registry, field)
    for sub_field, message in record.check(options, registry) if record.check else []:
        raise RecipeError(f"{field}.{sub_field}", message)
    inputs = stage_inputs(record, stage.inputs, field)
    outputs = stage_outputs(record, name, stage.outputs, inputs, options, registry, field)
    _check_flow(field, name, inputs, outputs, producers)
    return StageInfo(
        name=name, type=record.name, index=index, options=options, inputs=inputs, outputs=outputs
    )


def resolve(raw: dict[str, Any], registry: Registry, source: str = "<recipe>") -> Plan:
    """Validate a raw recipe mapping and resolve it against the registry.

    Raises:
        RecipeError: The first problem found, as one line naming the field.
    """
    check_values(raw)
    recipe: Recipe = validate(Recipe, raw, "")
    data = recipe.data
    dataset = registered(registry, "dataset", data.dataset, "data.dataset")
    data._parsed = validate(dataset.options, data.options, "data.options")
    if recipe.task is None:
        recipe.task = TaskRef(name=dataset.task)
        field = "data.dataset"  # the dataset declared it: say so if it is not registered
    else:
        field = "task"
    resolve_refs(recipe.task, registry, field)
    task = registry.get("task", recipe.task.name).build(recipe.task.parsed)

    stages: list[StageInfo] = []
    producers: dict[str, str] = {}
    seen_names: dict[str, int] = {}
    for index, stage in enumerate(recipe.stages):
        name = stage.name or stage.type
        if name in seen_names:
            raise RecipeError(
                f"stages[{index}].name",
                f"duplicate stage name {name!r} (also stages[{seen_names[name]}]); give each stage "
                "a unique name",
                value=name,
            )
        seen_names[name] = index
        stages.append(_resolve_stage(index, stage, name, registry, producers, task))
    _check_output_files(stages, registry)
    check_task_fit(recipe, stages, registry, task)
    return Plan(recipe=recipe, stages=stages, source=source)
