"""compressor.bench.files on a tiny real ONNX model: the grid of cells, the headline figures,
the machine's limits timed with the files, and the errors for data that does not fit."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from compressor.bench.files import benchmark_files
from compressor.bench.limits import limits_figures
from compressor.data import Split
from compressor.errors import UsageError

# The legacy exporter is used to make fixtures quickly; its deprecation notice is expected.
pytestmark = pytest.mark.filterwarnings(
    "ignore:You are using the legacy TorchScript:DeprecationWarning"
)


def test_files_measured_together_with_the_machine_limits(model_and_file, split) -> None:
    _, path = model_and_file
    results, limits = benchmark_files(
        {"a": path, "b": path},
        split,
        batch_sizes=[1],
        threads=[1],
        warmup=1,
        repeat=4,
        min_seconds=0.0,
        rounds=2,
        limits=True,
    )
    assert set(results) == {"a", "b"} and results["a"]["grid"][0]["runs"] == 4
    assert set(limits) == {"1"} and limits["1"]["floor_ms"] > 0 and limits["1"]["matmul_gflops"] > 0


def test_grid_times_every_batch_and_thread_count(model_and_file, split) -> None:
    _, path = model_and_file
    steps: list[str] = []
    results, limits = benchmark_files(
        {"model": path},
        split,
        batch_sizes=[8, 1],
        threads=[1, 2],
        warmup=1,
        repeat=3,
        min_seconds=0.0,
        on_step=lambda name, value: steps.append(name),
    )
    result = results["model"]
    assert limits == {}  # not asked for
    cells = [(g["provider"], g["threads"], g["batch"]) for g in result["grid"]]
    assert cells == [("cpu", 1, 1), ("cpu", 1, 8), ("cpu", 2, 1), ("cpu", 2, 8)]
    assert steps == ["accuracy"] + ["round"] * 5  # timed in five interleaved rounds
    assert result["latency_batch"] == 1 and result["throughput_batch"] == 8
    assert set(result["latency_ms"]) == {"p50", "p90", "p95", "p99", "mean"}
    assert result["latency_ms"]["p50"] == result["grid"][0]["p50"]
    # At least one call per round and cell: five rounds make five calls of the three asked for.
    assert result["runs"] == {"latency": 5, "throughput": 5}
    # Throughput from the median batch time, the headline one from the largest batch.
    for g in result["grid"]:
        assert g["throughput_per_s"] == pytest.approx(g["batch"] / (g["p50"] / 1000))
    assert result["throughput_per_s"] == result["grid"][1]["throughput_per_s"]
    assert (
        result["graph_params"] == 16 * 12 + 12 + 12 * 3 + 3
        and result["graph_macs"] == 16 * 12 + 12 * 3
    )
    assert result["file_bytes"] == path.stat().st_size
    assert result["providers"] == ["CPUExecutionProvider"]
    assert result["input"] == {"dtype": "float32", "shape": ["batch", 1, 4, 4], "embedded": False}

    limits = {"1": {"floor_ms": result["grid"][0]["p50"] / 2, "matmul_gflops": 100.0}}
    near = limits_figures(result, limits, macs=228)
    assert near["latency_vs_floor"] == pytest.approx(2.0) and near["threads"] == 1
    gflops = 2 * 228 * 8 / (result["grid"][1]["p50"] / 1000) / 1e9
    assert near["gflops"] == pytest.approx(gflops) and near["peak_fraction"] == pytest.approx(
        gflops / 100
    )


def test_accuracy_equals_pytorch_accuracy(model_and_file, split) -> None:
    model, path = model_and_file
    with torch.no_grad():
        expected = int((model(split.x).argmax(1) == split.y).sum()) / len(split)
    results, _ = benchmark_files(
        {"model": path},
        split,
        batch_sizes=[1],
        eval_batch_size=50,  # does not divide the 203 samples
        warmup=0,
        repeat=1,
        min_seconds=0.0,
        rounds=1,
    )
    assert results["model"]["accuracy"] == pytest.approx(expected, abs=1e-12)


def test_grid_rejects_data_of_another_shape(model_and_file) -> None:
    _, path = model_and_file
    other = Split(x=torch.zeros(4, 1, 8, 8), y=torch.zeros(4, dtype=torch.long))
    with pytest.raises(UsageError, match=r"takes inputs of shape \[batch, 1, 4, 4\]"):
        benchmark_files({"model": path}, other, warmup=0, repeat=1, min_seconds=0.0)


def test_accuracy_pads_a_fixed_batch(tmp_path, split) -> None:
    model = nn.Sequential(nn.Flatten(), nn.Linear(16, 3)).eval()
    path = tmp_path / "fixed.onnx"
    torch.onnx.export(
        model,
        (torch.randn(8, 1, 4, 4),),
        str(path),
        dynamo=False,
        input_names=["input"],
        output_names=["logits"],
    )
    with torch.no_grad():
        expected = int((model(split.x).argmax(1) == split.y).sum()) / len(split)
    results, _ = benchmark_files(
        {"model": path}, split, batch_sizes=[8], warmup=0, repeat=1, min_seconds=0.0
    )
    assert results["model"]["accuracy"] == pytest.approx(expected)  # 203: the last batch is padded
    with pytest.raises(UsageError, match="fixed batch size of 8"):
        benchmark_files(
            {"model": path}, split, batch_sizes=[1, 8], warmup=0, repeat=1, min_seconds=0.0
        )
