# The hook specifications are signatures with docstrings: their bodies are empty on purpose.
# mypy: disable-error-code="empty-body"
"""The hooks a compressor plugin can implement: this module is the API reference.

``docs/plugins/hooks.md`` documents each hook with the records and factory contracts, and
``docs/plugins/tutorial.md`` walks through a complete plugin package.

A plugin is a module (or object) with functions decorated by :data:`compressor.hookimpl`,
registered through the entry-point group ``compressor``::

    # pyproject.toml of your package
    [project.entry-points.compressor]
    my_losses = "my_package.compressor_plugin"

Registration hooks return a list of typed records (see :mod:`compressor.records`); every
record's name must be unique within its kind across all plugins, or compressor stops with an
error naming both plugins. Lifecycle hooks are called around every stage of a run.

Keep the module that holds your hooks free of heavy imports (torch, onnx): give factories as
``"package.module:attr"`` strings, or import inside the factory, so ``compressor plugins``
stays fast.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pluggy

from compressor import NAME

if TYPE_CHECKING:
    from compressor.context import RunContext
    from compressor.plan import StageInfo
    from compressor.records import (
        DatasetPlugin,
        ExporterPlugin,
        LossPlugin,
        ModelPlugin,
        PrunerPlugin,
        StagePlugin,
        TaskPlugin,
    )

hookspec = pluggy.HookspecMarker(NAME)


@hookspec
def compressor_register_losses() -> list[LossPlugin]:
    """Register losses usable in ``losses:`` of the train, distill and prune stages.

    Returns:
        A list of :class:`~compressor.records.LossPlugin` records.

    Example::

        @hookimpl
        def compressor_register_losses():
            return [LossPlugin(name="cosine", factory="my_pkg.losses:CosineLoss",
                               options=CosineOptions, description="1 - cos(student, teacher)")]
    """


@hookspec
def compressor_register_pruners() -> list[PrunerPlugin]:
    """Register structural pruning methods usable in the ``pruner:`` of a prune stage.

    Returns:
        A list of :class:`~compressor.records.PrunerPlugin` records.

    Example::

        @hookimpl
        def compressor_register_pruners():
            return [PrunerPlugin(name="my_taylor", factory="my_pkg.prune:build",
                                 options=MyTaylorOptions)]
    """


@hookspec
def compressor_register_exporters() -> list[ExporterPlugin]:
    """Register model exporters usable in the ``exporter:`` of an export stage.

    Returns:
        A list of :class:`~compressor.records.ExporterPlugin` records.

    Example::

        @hookimpl
        def compressor_register_exporters():
            return [ExporterPlugin(name="torchscript", factory="my_pkg.ts:build", suffix=".pt")]
    """


@hookspec
def compressor_register_datasets() -> list[DatasetPlugin]:
    """Register datasets usable in the recipe's ``data: {dataset: NAME}``.

    Returns:
        A list of :class:`~compressor.records.DatasetPlugin` records.

    Example::

        @hookimpl
        def compressor_register_datasets():
            return [DatasetPlugin(name="fashion_mnist", factory="my_pkg.data:load",
                                  options=FashionOptions)]
    """


@hookspec
def compressor_register_models() -> list[ModelPlugin]:
    """Register model architectures usable in a stage's ``model: {name: NAME}``.

    Returns:
        A list of :class:`~compressor.records.ModelPlugin` records.

    Example::

        @hookimpl
        def compressor_register_models():
            return [ModelPlugin(name="tiny_vit", factory="my_pkg.vit:build", options=VitOptions)]
    """


@hookspec
def compressor_register_stages() -> list[StagePlugin]:
    """Register stage types usable as ``type:`` of a recipe stage.

    Returns:
        A list of :class:`~compressor.records.StagePlugin` records, each declaring its input and
        output slots so the pipeline can check the artifact flow before anything runs.

    Example::

        @hookimpl
        def compressor_register_stages():
            return [StagePlugin(name="summary", factory="my_pkg.summary:SummaryStage",
                                inputs={"model": Role("the model to describe")})]
    """


@hookspec
def compressor_register_tasks() -> list[TaskPlugin]:
    """Register tasks: what a dataset's targets and a model's outputs mean (``task:``).

    A task owns the targets' form, the default supervised loss, the metric, the deployed form
    an exported file runs, and what ``compressor predict`` prints (:class:`compressor.task.Task`).
    Datasets declare the task they serve; a recipe's ``task:`` may override it.

    Returns:
        A list of :class:`~compressor.records.TaskPlugin` records.

    Example::

        @hookimpl
        def compressor_register_tasks():
            return [TaskPlugin(name="regression", factory="my_pkg.regression:Regression",
                               options=RegressionOptions, description="one float per sample")]
    """


@hookspec
def compressor_before_stage(stage: StageInfo, context: RunContext) -> None:
    """Called before a stage runs, after its inputs are available.

    Args:
        stage: Name, type, index and resolved options of the stage about to run.
        context: The run: artifacts produced so far, metrics, run folder, device.

    Example::

        @hookimpl
        def compressor_before_stage(stage, context):
            print(f"starting {stage.name} on {context.device}")
    """


@hookspec
def compressor_after_stage(stage: StageInfo, context: RunContext, seconds: float) -> None:
    """Called after a stage finished successfully and published its outputs.

    Args:
        stage: The stage that finished.
        context: The run, including the stage's new artifacts and metrics.
        seconds: Wall-clock duration of the stage.

    Example::

        @hookimpl
        def compressor_after_stage(stage, context, seconds):
            context.metrics[stage.name]["my_plugin_seconds"] = seconds
    """


@hookspec
def compressor_on_stage_error(stage: StageInfo, context: RunContext, error: BaseException) -> None:
    """Called when a stage raised, before the error propagates and the run stops.

    Args:
        stage: The stage that failed.
        context: The run as it was when the stage failed.
        error: The exception the stage raised.

    Example::

        @hookimpl
        def compressor_on_stage_error(stage, context, error):
            notify_slack(f"{stage.name} failed: {error}")
    """
