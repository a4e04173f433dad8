"""compressor.bench on a tiny real ONNX model: percentiles, repeat rule, accuracy."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from compressor import bench as onnx_bench
from compressor.data import Split

# The legacy exporter is used to make fixtures quickly; its deprecation notice is expected.
pytestmark = pytest.mark.filterwarnings(
    "ignore:You are using the legacy TorchScript:DeprecationWarning"
)


class CountingSession:
    """Wraps a real session and counts ``run`` calls."""

    def __init__(self, session) -> None:
        self.session = session
        self.calls = 0

    def get_inputs(self):
        return self.session.get_inputs()

    def get_outputs(self):
        return self.session.get_outputs()

    def run(self, output_names, feed):
        self.calls += 1
        return self.session.run(output_names, feed)


@pytest.fixture(scope="module")
def model_and_file(tmp_path_factory) -> tuple[nn.Module, Path]:
    torch.manual_seed(0)
    model = nn.Sequential(nn.Flatten(), nn.Linear(16, 12), nn.ReLU(), nn.Linear(12, 3)).eval()
    path = tmp_path_factory.mktemp("bench") / "mlp.onnx"
    # The legacy exporter is enough here and is ~20x faster than the dynamo one.
    torch.onnx.export(
        model,
        (torch.randn(2, 1, 4, 4),),
        str(path),
        dynamo=False,
        input_names=["input"],
        output_names=["logits"],
        dynamic_axes={"input": {0: "batch"}, "logits": {0: "batch"}},
    )
    return model, path


@pytest.fixture(scope="module")
def split() -> Split:
    g = torch.Generator().manual_seed(3)
    return Split(
        x=torch.randn(203, 1, 4, 4, generator=g), y=torch.randint(0, 3, (203,), generator=g)
    )


def test_latency_percentiles_are_ordered_and_repeat_is_respected(model_and_file, split) -> None:
    _, path = model_and_file
    session = CountingSession(onnx_bench.make_session(path, threads=1))
    stats = onnx_bench.measure_latency(
        session, onnx_bench.batch_of(split, 4), warmup=3, repeat=25, min_seconds=0.0
    )
    assert session.calls == 3 + 25 and stats["runs"] == 25
    assert 0 < stats["min"] <= stats["p50"] <= stats["p90"] <= stats["p95"] <= stats["p99"]
    assert stats["min"] <= stats["mean"]


def test_min_seconds_extends_the_measurement(model_and_file, split) -> None:
    _, path = model_and_file
    session = onnx_bench.make_session(path)
    started = time.perf_counter()
    stats = onnx_bench.measure_latency(
        session, onnx_bench.batch_of(split, 1), warmup=0, repeat=1, min_seconds=0.05
    )
    assert time.perf_counter() - started >= 0.05
    # The calls fill most of that time; the rest is the loop's own clock reads, which for a
    # model of a few microseconds per call can be 10% or more (so no tighter bound here).
    assert stats["runs"] > 1 and stats["runs"] * stats["mean"] >= 0.05 * 1000 * 0.5


def test_onnx_accuracy_equals_pytorch_accuracy(model_and_file, split) -> None:
    model, path = model_and_file
    with torch.no_grad():
        expected = int((model(split.x).argmax(1) == split.y).sum()) / len(split)
    session = onnx_bench.make_session(path)
    # A batch size that does not divide the split checks the last, short batch.
    assert onnx_bench.onnx_accuracy(session, split, 64) == pytest.approx(expected, abs=1e-12)
    assert onnx_bench.onnx_accuracy(session, split, 1000) == pytest.approx(expected, abs=1e-12)


def test_batch_of_repeats_rows_of_a_small_split(split) -> None:
    small = Split(x=split.x[:3], y=split.y[:3])
    batch = onnx_bench.batch_of(small, 8)
    assert batch.shape == (8, 1, 4, 4) and batch.dtype == np.float32
    np.testing.assert_array_equal(batch[3], small.x[0].numpy())


def test_cpu_device_uses_cpu_provider_only() -> None:
    assert onnx_bench.providers_for("cpu") == ["CPUExecutionProvider"]
    assert onnx_bench.providers_for("cuda")[-1] == "CPUExecutionProvider"


def test_benchmark_file_reports_everything(model_and_file, split) -> None:
    _, path = model_and_file
    steps: list[str] = []
    result = onnx_bench.benchmark_file(
        path,
        split,
        eval_batch_size=50,
        latency_batch=1,
        throughput_batch=32,
        warmup=1,
        repeat=5,
        min_seconds=0.0,
        threads=1,
        on_step=lambda name, value: steps.append(name),
    )
    assert steps == ["accuracy", "latency_p50_ms", "throughput_per_s"]
    assert set(result["latency_ms"]) == {"p50", "p90", "p95", "p99", "mean"}
    assert result["file_bytes"] == path.stat().st_size
    assert result["throughput_per_s"] > 0 and result["providers"] == ["CPUExecutionProvider"]


class FakeSession:
    """No model: counts ``run`` calls, each taking ``delay`` seconds."""

    def __init__(self, delay: float = 0.0) -> None:
        self.calls = 0
        self.delay = delay

    def get_inputs(self):
        return [type("I", (), {"name": "input"})()]

    def get_outputs(self):
        return [type("O", (), {"name": "logits"})()]

    def run(self, outputs, feed):
        self.calls += 1
        if self.delay:
            time.sleep(self.delay)


def test_interleaved_rounds_share_repeat_and_time() -> None:
    a, b = FakeSession(), FakeSession()
    order: list[int] = []
    stats = onnx_bench.time_cells(
        [onnx_bench.Cell(a, np.zeros(1)), onnx_bench.Cell(b, np.zeros(1))],
        warmup=2,
        repeat=10,
        min_seconds=0.0,
        rounds=3,
        on_round=order.append,
    )
    # ceil(10 / 3) = 4 calls per round and cell: at least `repeat` in all.
    assert [s["runs"] for s in stats] == [12, 12] and a.calls == b.calls == 2 + 12
    assert order == [0, 1, 2]


def test_round_spread_tells_when_conditions_changed() -> None:
    # One session on a machine that gets slower each round, one on a steady machine.
    steady, slowing = FakeSession(0.002), FakeSession(0.002)

    def next_round(index: int) -> None:
        slowing.delay = 0.002 * (2 + index)  # rounds after the first take 2x, 3x ... as long

    stats = onnx_bench.time_cells(
        [onnx_bench.Cell(steady, np.zeros(1)), onnx_bench.Cell(slowing, np.zeros(1))],
        warmup=1,
        repeat=9,
        min_seconds=0.0,
        rounds=3,
        on_round=next_round,
    )
    assert stats[0]["round_spread"] < 0.10 < 1.5 < stats[1]["round_spread"]
    assert onnx_bench.round_spread([1.0]) == 0.0 and onnx_bench.round_spread([2.0, 1.0, 1.5]) == 1.0


def test_files_measured_together_with_the_machine_limits(model_and_file, split) -> None:
    _, path = model_and_file
    results, limits = onnx_bench.benchmark_files(
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


def test_reference_measurements_of_the_machine() -> None:
    floor = onnx_bench.per_call_floor(threads=1, warmup=2, repeat=20, min_seconds=0.0)
    assert 0 < floor["min_ms"] <= floor["p50_ms"] and floor["runs"] == 20
    peak = onnx_bench.matmul_peak(
        threads=1, shape=(16, 64, 64), warmup=1, repeat=5, min_seconds=0.0
    )
    assert peak["gflops"] == pytest.approx(2 * 16 * 64 * 64 / (peak["p50_ms"] / 1000) / 1e9)


def test_grid_times_every_batch_and_thread_count(model_and_file, split) -> None:
    _, path = model_and_file
    steps: list[str] = []
    result = onnx_bench.benchmark_grid(
        path,
        split,
        batch_sizes=[8, 1],
        threads=[1, 2],
        warmup=1,
        repeat=3,
        min_seconds=0.0,
        on_step=lambda name, value: steps.append(name),
    )
    cells = [(g["provider"], g["threads"], g["batch"]) for g in result["grid"]]
    assert cells == [("cpu", 1, 1), ("cpu", 1, 8), ("cpu", 2, 1), ("cpu", 2, 8)]
    assert steps == ["accuracy"] + ["round"] * 5  # timed in five interleaved rounds
    assert result["latency_batch"] == 1 and result["throughput_batch"] == 8
    assert result["latency_ms"]["p50"] == result["grid"][0]["p50"]
    assert result["throughput_per_s"] == result["grid"][1]["throughput_per_s"]
    assert (
        result["graph_params"] == 16 * 12 + 12 + 12 * 3 + 3
        and result["graph_macs"] == 16 * 12 + 12 * 3
    )

    limits = {"1": {"floor_ms": result["grid"][0]["p50"] / 2, "matmul_gflops": 100.0}}
    near = onnx_bench.limits_figures(result, limits, macs=228)
    assert near["latency_vs_floor"] == pytest.approx(2.0) and near["threads"] == 1
    gflops = 2 * 228 * 8 / (result["grid"][1]["p50"] / 1000) / 1e9
    assert near["gflops"] == pytest.approx(gflops) and near["peak_fraction"] == pytest.approx(
        gflops / 100
    )


def test_grid_rejects_data_of_another_shape(model_and_file) -> None:
    from compressor.errors import UsageError

    _, path = model_and_file
    other = Split(x=torch.zeros(4, 1, 8, 8), y=torch.zeros(4, dtype=torch.long))
    with pytest.raises(UsageError, match=r"takes inputs of shape \[batch, 1, 4, 4\]"):
        onnx_bench.benchmark_grid(path, other, warmup=0, repeat=1, min_seconds=0.0)


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
    result = onnx_bench.benchmark_grid(
        path, split, batch_sizes=[8], warmup=0, repeat=1, min_seconds=0.0
    )
    assert result["accuracy"] == pytest.approx(expected)  # 203 samples: the last batch is padded
    from compressor.errors import UsageError

    with pytest.raises(UsageError, match="fixed batch size of 8"):
        onnx_bench.benchmark_grid(
            path, split, batch_sizes=[1, 8], warmup=0, repeat=1, min_seconds=0.0
        )
