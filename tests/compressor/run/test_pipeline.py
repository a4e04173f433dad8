"""A whole run on real data: run folder contents, ONNX parity with the report, failures, hooks."""

from __future__ import annotations

import json

import numpy as np
import onnxruntime as ort
import pytest
import yaml

from compressor import hookimpl, recipe
from compressor.errors import StageFailure, UsageError
from compressor.plugin.registry import Registry
from compressor.run import pipeline
from compressor.run.progress import Progress


class LifecycleRecorder:
    """A plugin that records the lifecycle hooks it receives."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, str]] = []

    @hookimpl
    def compressor_before_stage(self, stage, context) -> None:
        self.calls.append(("before", stage.name))

    @hookimpl
    def compressor_after_stage(self, stage, context, seconds) -> None:
        assert seconds >= 0
        self.calls.append(("after", stage.name))

    @hookimpl
    def compressor_on_stage_error(self, stage, context, error) -> None:
        self.calls.append(("error", f"{stage.name}: {type(error).__name__}"))


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory):
    from tests.conftest import TINY_RECIPE

    recorder = LifecycleRecorder()
    registry = Registry.load(extra_plugins=[("recorder", recorder)])
    plan = recipe.resolve(json.loads(json.dumps(TINY_RECIPE)), registry)
    out = tmp_path_factory.mktemp("runs") / "tiny-run"
    result = pipeline.run(plan, registry, out, progress=Progress(enabled=False))
    return result, recorder, registry


def test_run_folder_holds_everything(finished_run) -> None:
    result, _, _ = finished_run
    names = {p.name for p in result.run_dir.iterdir()}
    assert {
        "teacher.pt",
        "student_distilled.pt",
        "student.pt",
        "teacher.onnx",
        "student.onnx",
        "metrics.json",
        "report.md",
        "recipe.yaml",
        "report.html",
        "training_curves.png",
        "benchmark_accuracy_vs_latency.png",
        "benchmark_sizes.png",
    } <= names
    assert not [n for n in names if n.startswith(".") or n.endswith(".tmp")]
    assert not (result.run_dir.parent / ".tiny-run.partial").exists()
    resolved = yaml.safe_load((result.run_dir / "recipe.yaml").read_text())
    assert resolved["stages"][1]["losses"][0]["options"]["temperature"] == 4.0
    metrics = json.loads((result.run_dir / "metrics.json").read_text())
    assert metrics["status"] == "completed"
    assert (
        metrics["stages"]["prune"]["pruned"]["params"]
        < metrics["stages"]["prune"]["before"]["params"]
    )
    report = (result.run_dir / "report.md").read_text()
    assert "`teacher.onnx`" in report and "`student.onnx`" in report and "p50 latency" in report


def test_onnx_student_accuracy_matches_the_report(finished_run) -> None:
    result, _, registry = finished_run
    metrics = json.loads((result.run_dir / "metrics.json").read_text())
    reported = metrics["stages"]["benchmark"]["models"]["student.onnx"]["accuracy"]
    bundle = registry.get("dataset", "digits").build(
        registry.get("dataset", "digits").options.model_validate({}), seed=0
    )
    session = ort.InferenceSession(
        str(result.run_dir / "student.onnx"), providers=["CPUExecutionProvider"]
    )
    name = session.get_inputs()[0].name
    logits = session.run(None, {name: bundle.test.x.numpy()})[0]
    accuracy = float((np.argmax(logits, 1) == bundle.test.y.numpy()).mean())
    assert accuracy == pytest.approx(reported, abs=1e-9)


def test_lifecycle_hooks_run_in_order(finished_run) -> None:
    _, recorder, _ = finished_run
    stages = ["teacher", "distill", "prune", "export", "benchmark"]
    assert recorder.calls == [(when, s) for s in stages for when in ("before", "after")]


def test_failed_stage_keeps_finished_work_and_no_partial_file(
    tmp_path, tiny_recipe, monkeypatch
) -> None:
    recorder = LifecycleRecorder()
    registry = Registry.load(extra_plugins=[("recorder", recorder)])
    tiny_recipe["stages"] = tiny_recipe["stages"][:4]
    tiny_recipe["stages"][1]["epochs"] = 1
    plan = recipe.resolve(tiny_recipe, registry)

    def broken_export(self, model, example_inputs, path):
        path.with_name(path.name + ".half").write_bytes(b"")  # noise the stage left behind
        raise StageFailure("parity check failed: max |diff| 3.0 > atol 1e-4")

    from compressor_exporters.onnx_exporter import OnnxExporter

    monkeypatch.setattr(OnnxExporter, "export", broken_export)
    out = tmp_path / "run"
    with pytest.raises(StageFailure):
        pipeline.run(plan, registry, out, progress=Progress(enabled=False))
    assert not out.exists()
    failed = tmp_path / "run.failed"
    assert (failed / "error.txt").read_text().count("parity check failed") >= 1
    assert (failed / "teacher.pt").exists() and not (failed / "teacher.onnx").exists()
    metrics = json.loads((failed / "metrics.json").read_text())
    assert metrics["status"] == "failed" and "parity" in metrics["stages"]["export"]["error"]
    assert recorder.calls[-1] == ("error", "export: StageFailure")


def test_out_folder_must_be_new(tmp_path, tiny_recipe, registry) -> None:
    (tmp_path / "taken").mkdir()
    (tmp_path / "taken" / "keep.txt").write_text("precious")
    plan = recipe.resolve(tiny_recipe, registry)
    with pytest.raises(UsageError, match="already exists and is not empty"):
        pipeline.run(plan, registry, tmp_path / "taken", progress=Progress(enabled=False))
    assert (tmp_path / "taken" / "keep.txt").read_text() == "precious"


def test_entry_point_plugin_is_listed_and_usable(
    tmp_path, tiny_recipe, install_fake_plugin, capsys
) -> None:
    install_fake_plugin(
        "fake_cosine_plugin",
        """
        from compressor import hookimpl
        from compressor.records import LossPlugin

        def build(options):
            import torch
            class Cosine(torch.nn.Module):
                def forward(self, student, teacher, targets):
                    return (1 - torch.nn.functional.cosine_similarity(student, teacher)).mean()
            return Cosine()

        @hookimpl
        def compressor_register_losses():
            return [LossPlugin(name="cosine", factory=build, description="1 - cos")]

        @hookimpl
        def compressor_after_stage(stage, context, seconds):
            context.metrics[stage.name]["seen_by_cosine_plugin"] = seconds >= 0
        """,
        dist="compressor-cosine",
        version="1.2.3",
    )
    from compressor.cli import main

    assert main(["plugins", "--json"]) == 0
    listed = {p["name"]: p for p in json.loads(capsys.readouterr().out)["plugins"]}
    assert listed["fake_cosine_plugin"]["distribution"] == "compressor-cosine"
    assert listed["fake_cosine_plugin"]["version"] == "1.2.3"
    assert listed["fake_cosine_plugin"]["registers"] == {"loss": ["cosine"]}
    assert "compressor_after_stage" in listed["fake_cosine_plugin"]["hooks"]

    tiny_recipe["stages"] = tiny_recipe["stages"][:2]
    tiny_recipe["stages"][1]["losses"] = [{"name": "cosine"}, {"name": "ce", "weight": 0.1}]
    path = tmp_path / "r.yaml"
    path.write_text(yaml.safe_dump(tiny_recipe))
    assert main(["run", str(path), "--out", str(tmp_path / "out"), "--quiet"]) == 0
    metrics = json.loads((tmp_path / "out" / "metrics.json").read_text())
    assert metrics["stages"]["distill"]["test_accuracy"] > 0.5
    assert metrics["stages"]["teacher"]["seen_by_cosine_plugin"] is True
