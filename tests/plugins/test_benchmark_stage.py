"""The ``benchmark`` stage through a real StageContext: logged structure and ratios."""

from __future__ import annotations

import types
from pathlib import Path

import pytest
import torch
from compressor_stages.benchmark import BenchmarkStage
from compressor_stages.options import BenchmarkOptions
from torch import nn

from compressor.artifacts import FileArtifact, ModelArtifact
from compressor.context import RunContext, StageContext, StageInfo
from compressor.data import DataBundle, Split
from compressor.errors import UsageError
from compressor.run.progress import Progress

# The legacy exporter is used to make fixtures quickly; its deprecation notice is expected.
pytestmark = pytest.mark.filterwarnings(
    "ignore:You are using the legacy TorchScript:DeprecationWarning"
)

FAST = {"warmup": 1, "repeat": 5, "min_seconds": 0.0, "throughput_batch": 16, "threads": 1}


def _export(model: nn.Module, path: Path) -> Path:
    torch.onnx.export(
        model.eval(),
        (torch.randn(2, 1, 4, 4),),
        str(path),
        dynamo=False,
        input_names=["input"],
        output_names=["logits"],
        dynamic_axes={"input": {0: "batch"}, "logits": {0: "batch"}},
    )
    return path


@pytest.fixture(scope="module")
def files(tmp_path_factory) -> dict[str, FileArtifact]:
    folder = tmp_path_factory.mktemp("bench-stage")
    torch.manual_seed(0)
    big = nn.Sequential(nn.Flatten(), nn.Linear(16, 256), nn.ReLU(), nn.Linear(256, 3))
    small = nn.Sequential(nn.Flatten(), nn.Linear(16, 8), nn.ReLU(), nn.Linear(8, 3))
    return {
        "teacher.onnx": FileArtifact(
            name="teacher.onnx",
            path=_export(big, folder / "teacher.onnx"),
            format="onnx",
            source="teacher",
            meta={"params": 5123, "macs": 5120},
        ),
        # No params/macs in meta: the stage must cope (export stages of other plugins).
        "student.onnx": FileArtifact(
            name="student.onnx",
            path=_export(small, folder / "student.onnx"),
            format="onnx",
            source="student",
        ),
    }


def _bundle() -> DataBundle:
    g = torch.Generator().manual_seed(0)

    def split(n: int) -> Split:
        return Split(
            x=torch.randn(n, 1, 4, 4, generator=g), y=torch.randint(0, 3, (n,), generator=g)
        )

    return DataBundle(
        name="random",
        train=split(8),
        val=split(20),
        test=split(50),
        num_classes=3,
        input_shape=(1, 4, 4),
    )


def _context(
    tmp_path: Path, files: dict, options: BenchmarkOptions, inputs: list[str]
) -> StageContext:
    run = RunContext(
        recipe=types.SimpleNamespace(data=types.SimpleNamespace(eval_batch_size=16, batch_size=8)),
        registry=None,
        run_dir=tmp_path,
        device="cpu",
        seed=0,
        progress=Progress(enabled=False),
        artifacts=dict(files),
        _data=_bundle(),
    )
    info = StageInfo(
        name="benchmark",
        type="benchmark",
        index=4,
        options=options,
        inputs={"models": inputs},
        outputs={},
    )
    return StageContext(run, info)


def test_logs_figures_and_ratios_against_the_first_model(tmp_path, files) -> None:
    options = BenchmarkOptions(**FAST)
    ctx = _context(tmp_path, files, options, ["teacher.onnx", "student.onnx"])
    BenchmarkStage(options).run(ctx)

    m = ctx.run.metrics["benchmark"]
    assert m["reference"] == "teacher.onnx" and m["threads"] == 1
    assert m["providers"] == ["CPUExecutionProvider"]
    assert list(m["models"]) == ["teacher.onnx", "student.onnx"]
    teacher, student = m["models"]["teacher.onnx"], m["models"]["student.onnx"]
    for figures in (teacher, student):
        assert 0.0 <= figures["accuracy"] <= 1.0
        assert figures["latency_batch"] == 1 and figures["throughput_batch"] == 16
        lat = figures["latency_ms"]
        assert set(lat) == {"p50", "p90", "p95", "p99", "mean"}
        assert 0 < lat["p50"] <= lat["p95"] <= lat["p99"]
        assert figures["throughput_per_s"] > 0 and figures["file_bytes"] > 0
    assert teacher["source"] == "teacher" and teacher["params"] == 5123 and teacher["macs"] == 5120
    # Not in the artifact's meta: counted in the ONNX graph instead (16*8 + 8 + 8*3 + 3 weights).
    assert student["params"] == 163 and student["macs"] == 16 * 8 + 8 * 3

    assert teacher["ratios"] == {
        "size_ratio": 1.0,
        "params_ratio": 1.0,
        "macs_ratio": 1.0,
        "latency_speedup": 1.0,
        "throughput_ratio": 1.0,
        "accuracy_delta_points": 0.0,
    }
    r = student["ratios"]
    assert r["size_ratio"] == pytest.approx(teacher["file_bytes"] / student["file_bytes"])
    assert r["size_ratio"] > 1  # the small model's file is smaller
    assert r["params_ratio"] == pytest.approx(5123 / 163) and r["macs_ratio"] == pytest.approx(
        5120 / 152
    )
    assert r["latency_speedup"] == pytest.approx(
        teacher["latency_ms"]["p50"] / student["latency_ms"]["p50"]
    )
    assert r["throughput_ratio"] == pytest.approx(
        student["throughput_per_s"] / teacher["throughput_per_s"]
    )
    assert r["accuracy_delta_points"] == pytest.approx(
        100 * (student["accuracy"] - teacher["accuracy"])
    )
    assert list(tmp_path.iterdir()) == []  # the stage writes nothing itself


def test_reference_by_source_name(tmp_path, files) -> None:
    options = BenchmarkOptions(reference="student", split="val", **FAST)
    ctx = _context(tmp_path, files, options, ["teacher.onnx", "student.onnx"])
    BenchmarkStage(options).run(ctx)
    m = ctx.run.metrics["benchmark"]
    assert m["reference"] == "student.onnx" and m["split"] == "val"
    assert m["models"]["student.onnx"]["ratios"]["latency_speedup"] == 1.0
    # Accuracy on the 20-sample val split is a multiple of 1/20.
    assert (m["models"]["teacher.onnx"]["accuracy"] * 20) == pytest.approx(
        round(m["models"]["teacher.onnx"]["accuracy"] * 20)
    )


def test_unknown_reference_lists_the_choices(tmp_path, files) -> None:
    options = BenchmarkOptions(reference="studnet.onnx", **FAST)
    ctx = _context(tmp_path, files, options, ["teacher.onnx", "student.onnx"])
    with pytest.raises(UsageError, match=r"did you mean 'student.onnx'\?.*teacher\.onnx"):
        BenchmarkStage(options).run(ctx)
    assert "benchmark" not in ctx.run.metrics or not ctx.run.metrics["benchmark"]


def test_a_pytorch_model_input_is_a_usage_error(tmp_path, files) -> None:
    options = BenchmarkOptions(**FAST)
    with_model = {**files, "teacher": ModelArtifact(name="teacher")}
    ctx = _context(tmp_path, with_model, options, ["teacher"])
    with pytest.raises(UsageError, match="export it first"):
        BenchmarkStage(options).run(ctx)


def test_grid_limits_eager_and_int8_next_to_fp32(tmp_path, files) -> None:
    torch.manual_seed(0)
    small = nn.Sequential(nn.Flatten(), nn.Linear(16, 8), nn.ReLU(), nn.Linear(8, 3)).eval()
    int8 = FileArtifact(
        name="student.int8.onnx",
        path=files["student.onnx"].path,
        format="onnx",
        source="student.onnx",
        meta={"precision": "int8", "quantized_from": "student.onnx", "quantization": "dynamic"},
    )
    artifacts = {
        **files,
        "student": ModelArtifact(name="student", model=small),
        "student.int8.onnx": int8,
    }
    options = BenchmarkOptions(
        batch_sizes=[16, 1], threads=[1, 2], warmup=1, repeat=3, min_seconds=0.0
    )
    ctx = _context(tmp_path, artifacts, options, ["student.onnx", "student.int8.onnx"])
    BenchmarkStage(options).run(ctx)

    m = ctx.run.metrics["benchmark"]
    assert m["batch_sizes"] == [1, 16] and m["thread_counts"] == [1, 2] and m["threads"] == [1, 2]
    assert set(m["limits"]) == {"1", "2"} and m["limits"]["1"]["floor_ms"] > 0
    student = m["models"]["student.onnx"]
    assert [(g["threads"], g["batch"]) for g in student["grid"]] == [
        (1, 1),
        (1, 16),
        (2, 1),
        (2, 16),
    ]
    assert student["limits"]["latency_vs_floor"] > 0 and student["limits"]["gflops"] > 0
    # The PyTorch model the file came from is timed too; the INT8 file has none.
    assert len(student["torch_eager"]) == 4 and student["torch_latency_ms"] > 0
    assert "torch_eager" not in m["models"]["student.int8.onnx"]
    (comparison,) = m["int8"]
    assert comparison["int8"] == "student.int8.onnx" and comparison["fp32"] == "student.onnx"
    assert comparison["size_ratio"] == 1.0 and comparison["slower"] == (
        comparison["latency_speedup"] < 1
    )


def test_cuda_provider_missing_is_a_usage_error(tmp_path, files) -> None:
    options = BenchmarkOptions(providers=["cuda"], **FAST)
    ctx = _context(tmp_path, files, options, ["teacher.onnx"])
    if "CUDAExecutionProvider" in __import__("onnxruntime").get_available_providers():
        pytest.skip("this onnxruntime has CUDA")
    with pytest.raises(UsageError, match="cuda is not available in this onnxruntime"):
        BenchmarkStage(options).run(ctx)


def test_options_batch_sizes_and_threads() -> None:
    import pydantic

    assert BenchmarkOptions().batches == [1, 256] and BenchmarkOptions().thread_counts == [None]
    assert BenchmarkOptions(batch_sizes=[64, 1, 64], threads=2).batches == [1, 64]
    assert BenchmarkOptions(threads=2).thread_counts == [2]
    with pytest.raises(
        pydantic.ValidationError, match="throughput_batch: 256 disagrees with batch_sizes"
    ):
        BenchmarkOptions(batch_sizes=[1, 64], throughput_batch=256)
    # The resolved recipe spells every field out; it must validate again.
    resolved = BenchmarkOptions(batch_sizes=[64, 1], threads=[1, 2]).model_dump(mode="json")
    assert resolved["latency_batch"] == 1 and resolved["throughput_batch"] == 64
    assert BenchmarkOptions.model_validate(resolved).batches == [1, 64]
    for bad in ({"threads": [0]}, {"batch_sizes": []}, {"providers": ["tpu"]}):
        with pytest.raises(pydantic.ValidationError):
            BenchmarkOptions.model_validate(bad)
