"""Which file each artifact is written to, and recipes in which two of them would be one file."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from compressor import hookimpl, recipe
from compressor.context import CHECKPOINT_DIR
from compressor.plugin.registry import Registry
from compressor.recipe.resolve import BENCHMARK_PLOTS, RUN_FOLDER_FILES, output_file
from compressor.records import ExporterPlugin, Role, StagePlugin
from tests.compressor.recipe.expect import error_of, stage_of


class TorchScriptExporter:
    """A third party's exporter whose files end in ``.pt``, as TorchScript files often do."""

    @hookimpl
    def compressor_register_exporters(self) -> list[ExporterPlugin]:
        return [ExporterPlugin(name="torchscript", factory="unused:factory", suffix=".pt")]


class CopyStage:
    """A third party's stage that says nothing about its output's file (the default applies)."""

    @hookimpl
    def compressor_register_stages(self) -> list[StagePlugin]:
        return [
            StagePlugin(
                name="copy_file",
                factory="unused:factory",
                inputs={"model": Role("any model")},
                outputs={"copy": Role("a copy of the model's file")},
            )
        ]


@pytest.fixture(scope="module")
def third_party() -> Registry:
    return Registry.load(extra_plugins=[("ts", TorchScriptExporter()), ("copy", CopyStage())])


def _with_export(tiny_recipe: dict[str, Any], **export: Any) -> dict[str, Any]:
    """TINY_RECIPE up to its export stage, the export stage changed by ``export``."""
    r = copy.deepcopy(tiny_recipe)
    r["stages"] = r["stages"][:4]
    stage_of(r, "export").update(export)
    return r


def test_a_pt_exporter_may_not_overwrite_the_checkpoints(tiny_recipe, third_party) -> None:
    r = _with_export(tiny_recipe, exporter={"name": "torchscript"})
    message = error_of(r, third_party)
    assert message == (
        "stages.export.outputs.files: artifact 'teacher.pt' of stage 'export' would be written "
        "to teacher.pt, the file stage 'teacher' writes for artifact 'teacher'; give one of them "
        "another name in its stage's outputs"
    )


def test_the_same_exporter_passes_when_the_names_differ(tiny_recipe, third_party) -> None:
    r = _with_export(
        tiny_recipe,
        exporter={"name": "torchscript"},
        outputs={"files": ["teacher.script.pt", "student.script.pt"]},
    )
    plan = recipe.resolve(r, third_party)
    assert plan.stages[-1].outputs == {"files": ["teacher.script.pt", "student.script.pt"]}


@pytest.mark.parametrize(
    ("name", "kept"),
    [
        ("metrics.json", "the run's metrics"),
        ("REPORT.md", "the report"),  # macOS and Windows would write over report.md
        ("report.html", "the report's page"),
        ("recipe.yaml", "the resolved recipe"),
        ("error.txt", "a failed run's error"),
        ("completed_stages.json", "the stages --resume keeps"),
        ("checkpoints", "the epoch checkpoints"),
        ("training_curves.png", "the report's training curves"),
    ],
)
def test_an_artifact_may_not_take_a_run_folder_file(tiny_recipe, registry, name, kept) -> None:
    r = _with_export(tiny_recipe, outputs={"files": [name, "student.onnx"]})
    message = error_of(r, registry)
    assert message.startswith(
        f"stages.export.outputs.files: artifact {name!r} of stage 'export' would be written to "
        f"{name}, where the run folder keeps {kept};"
    )


def test_an_artifact_may_not_take_a_benchmark_plot(tiny_recipe, registry) -> None:
    r = copy.deepcopy(tiny_recipe)
    stage_of(r, "export")["outputs"] = {"files": ["teacher.onnx", "speed_sizes.png"]}
    stage_of(r, "benchmark").update(name="speed", inputs={"models": ["teacher.onnx"]})
    assert "where the run folder keeps the report's plot of stage 'speed'" in error_of(r, registry)
    stage_of(r, "speed")["name"] = "bench"  # its plots are now bench_*.png
    recipe.resolve(r, registry)


def test_two_models_whose_names_differ_only_in_case_collide(tiny_recipe, registry) -> None:
    r = copy.deepcopy(tiny_recipe)
    r["stages"] = r["stages"][:2]
    stage_of(r, "distill")["outputs"] = {"model": "Teacher"}
    message = error_of(r, registry)
    assert message.startswith(
        "stages.distill.outputs.model: artifact 'Teacher' of stage 'distill' would be written to "
        "Teacher.pt, the file stage 'teacher' writes for artifact 'teacher'"
    )


def test_a_stage_that_does_not_declare_its_file_gets_the_default(tiny_recipe, third_party) -> None:
    r = copy.deepcopy(tiny_recipe)
    r["stages"] = r["stages"][:1] + [
        {"name": "copy", "type": "copy_file", "inputs": {"model": "teacher"}}
    ]
    recipe.resolve(r, third_party)  # the artifact "copy" is a model: copy.pt
    r["stages"][1]["outputs"] = {"copy": "teacher.pt"}  # a name with a suffix is its own file
    assert "the file stage 'teacher' writes for artifact 'teacher'" in error_of(r, third_party)


def test_output_file_patterns() -> None:
    assert output_file(Role(), "student") == "student.pt"
    assert output_file(Role(), "student.summary.txt") == "student.summary.txt"
    assert output_file(Role(), ".hidden") == ".hidden.pt"  # a leading dot is not a suffix
    assert output_file(Role(file="{name}.json"), "card") == "card.json"
    assert output_file(Role(file="{name}"), "teacher") == "teacher"
    assert output_file(Role(file=None), "teacher") is None


def test_a_loaded_model_writes_no_file(tiny_recipe, third_party, tmp_path) -> None:
    # A checkpoint of an earlier run, exported to TorchScript: teacher.pt is free in this run.
    r = _with_export(tiny_recipe, inputs={"models": ["teacher"]}, exporter={"name": "torchscript"})
    r["stages"] = [
        {"name": "teacher", "type": "load", "path": str(tmp_path / "teacher.pt")},
        stage_of(r, "export"),
    ]
    assert output_file(third_party.get("stage", "load").outputs["model"], "teacher") is None
    plan = recipe.resolve(r, third_party)
    assert plan.stages[-1].outputs == {"files": ["teacher.pt"]}


def test_the_built_in_stages_declare_the_files_a_run_writes(tiny_recipe, registry) -> None:
    # tests/compressor/run/test_pipeline.py checks that a real run of this recipe writes them.
    plan = recipe.resolve(tiny_recipe, registry)
    declared = {
        output_file(registry.get("stage", s.type).outputs[slot], artifact)
        for s in plan.stages
        for slot, names in s.outputs.items()
        for artifact in ([names] if isinstance(names, str) else names)
    }
    assert declared == {
        "teacher.pt",
        "student_distilled.pt",
        "student.pt",
        "teacher.onnx",
        "student.onnx",
    }


def test_the_run_folder_files_are_the_ones_the_run_and_report_write(tmp_path) -> None:
    from compressor.report import write_report
    from compressor.run.results import COMPLETED_FILE
    from tests.compressor.report.conftest import METRICS

    assert COMPLETED_FILE in RUN_FOLDER_FILES and CHECKPOINT_DIR in RUN_FOLDER_FILES
    write_report(tmp_path, copy.deepcopy(METRICS))  # METRICS has one benchmark stage
    plots = {plot.format(stage="benchmark") for plot in BENCHMARK_PLOTS}
    assert {p.name for p in tmp_path.iterdir()} == plots | {
        "report.md",
        "report.html",
        "training_curves.png",
    }
    assert {"report.md", "report.html", "training_curves.png"} <= set(RUN_FOLDER_FILES)
