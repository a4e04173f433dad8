"""The ``metrics.json`` document: its keys, and what it says about each artifact."""

from __future__ import annotations

import time
from pathlib import Path
from types import SimpleNamespace

from compressor import __version__
from compressor.artifacts import FileArtifact, ModelArtifact
from compressor.run.metrics import artifact_summary, run_metrics


def _context(**artifacts):
    return SimpleNamespace(
        artifacts=artifacts, metrics={"teacher": {"seconds": 1.5}}, device="cpu", _data=None
    )


def test_artifacts_are_summarized_with_their_plain_metadata() -> None:
    context = _context(
        teacher=ModelArtifact(
            name="teacher",
            producer="teacher",
            path=Path("/runs/x/teacher.pt"),
            meta={"params": 10, "accuracy": 0.5, "shape": [1, 2], "note": "ok", "fused": True},
        ),
        student=ModelArtifact(name="student", producer="distill"),
        onnx=FileArtifact(name="student.onnx", producer="export", path=Path("student.onnx")),
    )
    assert artifact_summary(context) == {
        "teacher": {
            "kind": "ModelArtifact",
            "producer": "teacher",
            "file": "teacher.pt",
            "params": 10,
            "accuracy": 0.5,
            "note": "ok",
            "fused": True,
        },
        "student": {"kind": "ModelArtifact", "producer": "distill", "file": None},
        "onnx": {"kind": "FileArtifact", "producer": "export", "file": "student.onnx"},
    }


def test_the_document_has_the_keys_the_report_reads() -> None:
    recipe = SimpleNamespace(name="tiny", seed=3)
    stages = [SimpleNamespace(name="teacher", type="train"), SimpleNamespace(name="x", type="y")]
    plan = SimpleNamespace(recipe=recipe, stages=stages)
    metrics = run_metrics(plan, _context(), time.perf_counter() - 2.0, "failed")
    assert list(metrics) == [
        "recipe",
        "status",
        "seconds",
        "seed",
        "device",
        "world_size",
        "versions",
        "task",
        "data",
        "stages",
        "artifacts",
    ]
    assert (metrics["recipe"], metrics["status"], metrics["seed"]) == ("tiny", "failed", 3)
    assert metrics["seconds"] >= 2.0 and metrics["world_size"] == 1 and metrics["data"] == {}
    assert metrics["versions"]["compressor"] == __version__
    assert set(metrics["versions"]) == {"compressor", "torch", "onnx", "onnxruntime"}
    assert metrics["stages"] == {
        "teacher": {"type": "train", "seconds": 1.5},
        "x": {"type": "y"},
    }
