"""The shipped ``image_folder`` recipe: valid on any folder, and end to end on a tiny one."""

from __future__ import annotations

import json

from tests.compressor.cli.invoke import run_cli
from tests.plugins.image_folders import class_folder

#: Small enough to run in seconds: one epoch each, 16x16 inputs, a short benchmark.
TINY = {
    "data.batch_size": 16,
    "data.preprocess.resize": 20,
    "data.preprocess.center_crop": 16,
    "stages.teacher.epochs": 1,
    "stages.teacher.recalibrate_bn.batches": 2,
    "stages.distill.epochs": 1,
    "stages.distill.recalibrate_bn.batches": 2,
    "stages.prune.finetune.epochs": 1,
    "stages.quantize.calibration_batches": 1,
    "stages.benchmark.repeat": 3,
    "stages.benchmark.warmup": 1,
    "stages.benchmark.min_seconds": 0,
}


def test_it_validates_on_a_generated_folder(capsys, tmp_path) -> None:
    root = class_folder(tmp_path / "photos", {"cats": 5, "dogs": 5})
    code, out, err = run_cli(capsys, "validate", "image_folder", "--set",
                             f"data.options.train_root={root}")  # fmt: skip
    assert code == 0, err
    assert "valid recipe 'image_folder', 6 stages: teacher (train) → distill (distill)" in out
    code, _, err = run_cli(capsys, "validate", "image_folder", "--set",
                           f"data.options.train_root={tmp_path / 'none'}")  # fmt: skip
    assert code == 2 and f"data.options.train_root: folder not found: {tmp_path / 'none'}" in err


def test_it_runs_end_to_end_on_a_tiny_folder(capsys, tmp_path) -> None:
    root = class_folder(tmp_path / "photos", {"a": 12, "b": 12, "c": 12})
    overrides = [f"data.options.train_root={root}"] + [f"{k}={v}" for k, v in TINY.items()]
    argv = ["run", "image_folder", "--out", str(tmp_path / "run"), "--quiet", "--no-cache"]
    code, _, err = run_cli(capsys, *argv, *[a for o in overrides for a in ("--set", o)])
    assert code == 0, err
    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert metrics["status"] == "completed"
    assert metrics["data"]["input_shape"] == [3, 16, 16] and metrics["data"]["num_classes"] == 3
    assert len(metrics["data"]["preprocessing"]["mean"]) == 3
    files = {p.name for p in (tmp_path / "run").iterdir()}
    assert {"teacher.onnx", "student.onnx", "student.int8.onnx", "report.md"} <= files
    rows = metrics["stages"]["benchmark"]["models"]
    assert set(rows) == {"teacher.onnx", "student.onnx", "student.int8.onnx"}
