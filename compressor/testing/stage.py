"""The stage contract check: :func:`check_stage` and its :class:`StageCheckResult`.

A stage is run once in a real (tiny) run. It is wired as a recipe would wire it: the options
resolved by :func:`compressor.recipe.resolve_refs` and the record's ``check``, the outputs named
by :func:`compressor.recipe.stage_outputs`. What it did is then checked: every declared output
published, no temporary files, input models unchanged, metrics that can be written.
"""

from __future__ import annotations

import copy
import json
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import torch
from pydantic import BaseModel
from torch import nn

from compressor.artifacts import Artifact, FileArtifact, ModelArtifact
from compressor.data import DataBundle
from compressor.errors import RecipeError
from compressor.plan import StageInfo, artifact_names
from compressor.records import StagePlugin
from compressor.testing.building import parse_options
from compressor.testing.tiny import tiny_data_bundle, tiny_mlp

if TYPE_CHECKING:
    from compressor.context import RunContext
    from compressor.plugin.registry import Registry

Slots = dict[str, str | list[str]]


@dataclass
class StageCheckResult:
    """What a stage did in :func:`check_stage`.

    Attributes:
        run_dir: The run folder the stage wrote to.
        artifacts: Every artifact of the run: the inputs and what the stage published.
        published: The names the stage published.
        metrics: What the stage logged.
        context: The run context, for further assertions.
    """

    run_dir: Path
    artifacts: dict[str, Artifact]
    published: list[str]
    metrics: dict[str, Any]
    context: RunContext = field(repr=False)


def check_stage(
    stage: Any,
    options: Mapping[str, Any] | BaseModel | None = None,
    *,
    inputs: Mapping[str, Any] | None = None,
    outputs: Mapping[str, str | list[str]] | None = None,
    data: DataBundle | None = None,
    run_dir: str | Path | None = None,
    registry: Registry | None = None,
    name: str = "check",
) -> StageCheckResult:
    """Run a stage once in a real (tiny) run and check the stage contract.

    The options are validated and resolved as a recipe would (plugin references checked against
    the registry, the record's ``check`` run), the outputs named as a recipe would (the given
    ones, then ``default_outputs``, else the stage name), and the stage is run through a real
    :class:`~compressor.context.StageContext`. It must publish every declared output name,
    leave the files it publishes in the run folder and no temporary files, and leave its input
    models unchanged.

    Args:
        stage: A registered name or a :class:`~compressor.records.StagePlugin` record.
        options: The stage's own recipe keys (validated by the record's schema).
        inputs: slot -> an :class:`~compressor.artifacts.Artifact`, an ``nn.Module`` (wrapped as
            a model artifact named after the slot), or a list of them for ``many`` slots.
            Required slots left out get a :func:`tiny_mlp` model artifact named after the slot.
        outputs: slot -> artifact name(s), as in a recipe.
        data: The run's dataset (default: :func:`tiny_data_bundle`).
        run_dir: The run folder (default: a new temporary folder).
        registry: Resolves plugin references (default: every installed plugin).
        name: The stage's name in the run.

    Returns:
        A :class:`StageCheckResult`.

    Raises:
        AssertionError: A part of the contract does not hold; the message says which.
    """
    from compressor.plugin.registry import Registry

    registry = registry if registry is not None else Registry.load()
    record = registry.get("stage", stage) if isinstance(stage, str) else stage
    assert isinstance(record, StagePlugin), (
        f"check_stage needs a StagePlugin record or name, got {stage!r}"
    )
    label = f"stage {record.name!r}"
    parsed = _resolve_options(record, options, registry, name, label)
    data = data if data is not None else tiny_data_bundle()
    artifacts, input_names = _input_artifacts(record, inputs, data, label)
    output_names = _output_names(record, name, outputs, input_names, parsed, registry, label)
    folder = _run_folder(run_dir)
    run = _run_context(record.name, name, data, folder, registry, artifacts)
    info = StageInfo(
        name=name,
        type=record.name,
        index=0,
        options=parsed,
        inputs=input_names,
        outputs=output_names,
    )
    input_states = _model_states(artifacts)
    _run_stage(record, parsed, run, info, label)

    declared = [n for v in output_names.values() for n in artifact_names(v)]
    _check_published(run, declared, label)
    _check_no_temporary_files(folder, label)
    _check_inputs_unchanged(artifacts, input_states, label)
    _check_metrics_serialize(run.metrics.get(name, {}), label)
    return StageCheckResult(
        run_dir=folder,
        artifacts=run.artifacts,
        published=declared,
        metrics=run.metrics.get(name, {}),
        context=run,
    )


# --- wiring the stage, as a recipe would ------------------------------------------------------


def _resolve_options(
    record: StagePlugin, options: Any, registry: Registry, name: str, label: str
) -> Any:
    """The stage options validated, their plugin references resolved, the record's check run."""
    from compressor.recipe import resolve_refs

    parsed = parse_options(record, options)
    try:
        resolve_refs(parsed, registry, f"stages.{name}")
    except RecipeError as exc:
        raise AssertionError(f"{label}: options do not resolve: {exc}") from exc
    if record.check is not None:
        problems = record.check(parsed, registry)
        assert isinstance(problems, list), (
            f"{label}: check() must return a list of (field, message) pairs"
        )
        assert not problems, f"{label}: check() rejected the options: {problems}"
    return parsed


def _input_artifacts(
    record: StagePlugin, inputs: Mapping[str, Any] | None, data: DataBundle, label: str
) -> tuple[dict[str, Artifact], Slots]:
    """The run's input artifacts by name, and the stage's input slots filled with their names.

    Required slots left out get a :func:`tiny_mlp` for ``data``; a ``many`` slot's artifacts
    are named after the slot, then the slot and a number (``models``, ``models1``, ...).
    """
    given = dict(inputs or {})
    for slot, role in record.inputs.items():
        if slot not in given and role.required:
            given[slot] = tiny_mlp(data.input_shape, data.num_classes)
    unknown = sorted(set(given) - set(record.inputs))
    assert not unknown, (
        f"{label} has no input slot {', '.join(unknown)}; slots: {', '.join(record.inputs)}"
    )
    artifacts: dict[str, Artifact] = {}
    input_names: Slots = {}
    for slot, value in given.items():
        if record.inputs[slot].many:
            items = [
                _artifact(f"{slot}{i}" if i else slot, v)
                for i, v in enumerate(value if isinstance(value, list) else [value])
            ]
            input_names[slot] = [a.name for a in items]
        else:
            items = [_artifact(slot, value)]
            input_names[slot] = items[0].name
        artifacts.update({a.name: a for a in items})
    return artifacts, input_names


def _artifact(slot: str, value: Any) -> Artifact:
    """``value`` as an input artifact: itself, or an ``nn.Module`` wrapped as ``slot``."""
    if isinstance(value, Artifact):
        return value
    if isinstance(value, nn.Module):
        return ModelArtifact(
            name=slot, model=value.eval(), spec={"name": "tiny", "options": {}}, producer="check"
        )
    raise AssertionError(
        f"input {slot!r}: give an Artifact or an nn.Module, got {type(value).__name__}"
    )


def _output_names(
    record: StagePlugin,
    name: str,
    outputs: Mapping[str, str | list[str]] | None,
    input_names: Slots,
    parsed: Any,
    registry: Registry,
    label: str,
) -> Slots:
    """The stage's output slots filled with artifact names, by the recipe's own rules."""
    from compressor.recipe import stage_outputs

    try:
        return stage_outputs(
            record, name, dict(outputs or {}), input_names, parsed, registry, f"stages.{name}"
        )
    except RecipeError as exc:
        raise AssertionError(f"{label}: outputs do not resolve: {exc}") from exc


def _run_folder(run_dir: str | Path | None) -> Path:
    """``run_dir`` (created if needed), or a new temporary folder."""
    folder = (
        Path(run_dir) if run_dir is not None else Path(tempfile.mkdtemp(prefix="compressor-check-"))
    )
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def _run_context(
    stage_type: str,
    name: str,
    data: DataBundle,
    folder: Path,
    registry: Registry,
    artifacts: dict[str, Artifact],
) -> RunContext:
    """A real run on the CPU of a one-stage recipe, holding the input artifacts."""
    from compressor.context import RunContext
    from compressor.recipe import Recipe
    from compressor.run.progress import Progress

    recipe = Recipe.model_validate(
        {
            "version": 1,
            "name": name,
            "device": "cpu",
            "data": {"dataset": data.name, "batch_size": 16, "eval_batch_size": 64},
            "stages": [{"name": name, "type": stage_type}],
        }
    )
    return RunContext(
        recipe=recipe,
        registry=registry,
        run_dir=folder,
        device="cpu",
        seed=0,
        progress=Progress(enabled=False),
        artifacts=dict(artifacts),
        _data=data,
        # The data's own task: the bundle says which (classification unless it is a detector's).
        _task=registry.get("task", data.task).build(None),
    )


def _run_stage(
    record: StagePlugin, parsed: Any, run: RunContext, info: StageInfo, label: str
) -> None:
    """Build the stage from its options and run it through a real stage context."""
    from compressor.context import StageContext

    built = record.build(parsed)
    assert hasattr(built, "run"), (
        f"{label}: the factory returned {type(built).__name__}, which has no run(ctx)"
    )
    try:
        built.run(StageContext(run, info))
    except Exception as exc:
        raise AssertionError(f"{label} failed: {type(exc).__name__}: {exc}") from exc


# --- checking what the stage did --------------------------------------------------------------


def _model_states(artifacts: dict[str, Artifact]) -> dict[str, dict[str, torch.Tensor]]:
    """A copy of the weights of every input model, to compare with after the stage ran."""
    return {
        n: copy.deepcopy(a.model.state_dict())
        for n, a in artifacts.items()
        if isinstance(a, ModelArtifact) and isinstance(a.model, nn.Module)
    }


def _check_published(run: RunContext, declared: list[str], label: str) -> None:
    """Every declared output is published; a published file exists."""
    missing = [n for n in declared if n not in run.artifacts]
    assert not missing, f"{label} did not publish its declared output(s): {', '.join(missing)}"
    for artifact_name in declared:
        artifact = run.artifacts[artifact_name]
        if isinstance(artifact, FileArtifact):
            assert artifact.path.is_file(), (
                f"{label} published {artifact_name!r} but {artifact.path} does not exist"
            )


def _check_no_temporary_files(folder: Path, label: str) -> None:
    """Nothing hidden or ``.tmp`` is left in the run folder: a write that did not finish."""
    temporary = sorted(
        p.name for p in folder.iterdir() if p.name.startswith(".") or p.name.endswith(".tmp")
    )
    assert not temporary, f"{label} left temporary files in the run folder: {', '.join(temporary)}"


def _check_inputs_unchanged(
    artifacts: dict[str, Artifact], states: dict[str, dict[str, torch.Tensor]], label: str
) -> None:
    """The input models' weights are what they were before the stage ran."""
    for artifact_name, state in states.items():
        # _model_states kept only model artifacts, so every name in ``states`` is one.
        current = cast(ModelArtifact, artifacts[artifact_name]).model.state_dict()
        changed = state.keys() != current.keys() or not all(
            torch.equal(state[k], current[k]) for k in state
        )
        assert not changed, (
            f"{label} modified its input model {artifact_name!r} in place; later stages read it "
            "too, so work on a copy (copy.deepcopy)"
        )


def _check_metrics_serialize(metrics: dict[str, Any], label: str) -> None:
    """What the stage logged can be written to ``metrics.json``."""
    try:
        json.dumps(metrics, default=str)
    except (TypeError, ValueError) as exc:
        raise AssertionError(
            f"{label} logged metrics that cannot be written to metrics.json: {exc}"
        ) from exc
