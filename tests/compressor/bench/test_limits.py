"""compressor.bench.limits: the reference models, the floor and peak cells, and how close a
model runs to them."""

from __future__ import annotations

import numpy as np
import onnx
import pytest
from onnx import numpy_helper

from compressor.bench.limits import (
    PEAK_MATMUL,
    identity_model,
    limit_cells,
    limits_figures,
    limits_of,
    matmul_model,
)
from compressor.bench.session import make_session
from compressor.bench.timing import time_cells


def test_reference_models_compute_what_they_say() -> None:
    x = np.arange(3, dtype=np.float32).reshape(3, 1)
    (same,) = make_session(identity_model()).run(["logits"], {"input": x})
    np.testing.assert_array_equal(same, x)

    model = matmul_model(4, 8, 5)
    weight = numpy_helper.to_array(onnx.load_from_string(model).graph.initializer[0])
    x = np.random.default_rng(0).standard_normal((4, 8)).astype(np.float32)
    (product,) = make_session(model).run(["logits"], {"input": x})
    np.testing.assert_allclose(product, x @ weight, rtol=1e-5, atol=1e-5)


def test_limit_cells_give_the_floor_and_the_peak() -> None:
    cells = limit_cells([1])
    assert [cell.key for cell in cells] == [("floor", 1), ("peak", 1)]
    stats = time_cells(cells, warmup=2, repeat=5, min_seconds=0.0)
    floor, peak = stats
    assert 0 < floor["min"] <= floor["p50"] and floor["runs"] == 5
    machine = limits_of(cells, stats)
    assert set(machine) == {"1"} and machine["1"]["floor_ms"] == floor["p50"]
    m, k, n = PEAK_MATMUL
    # The peak from the median call: 2 operations per multiply-accumulate.
    assert machine["1"]["matmul_gflops"] == pytest.approx(
        2 * m * k * n / (peak["p50"] / 1000) / 1e9
    )


def _cell(threads, batch: int, p50: float) -> dict:
    return {"provider": "cpu", "threads": threads, "batch": batch, "p50": p50}


def test_limits_figures_compare_the_headline_cells_with_the_machine() -> None:
    grid = [_cell(1, 1, 0.02), _cell(1, 64, 0.5), _cell(2, 1, 0.01), _cell(2, 64, 0.3)]
    limits = {"1": {"floor_ms": 0.005, "matmul_gflops": 100.0}, "2": {"floor_ms": 0.004}}
    near = limits_figures({"grid": grid}, limits, macs=1000)
    # The first thread count's smallest and largest batch: 4x the floor, 2*1000*64 per 0.5 ms.
    assert near["latency_vs_floor"] == pytest.approx(4.0) and near["latency_batch"] == 1
    assert near["gflops"] == pytest.approx(0.256) and near["gflops_batch"] == 64
    assert near["peak_fraction"] == pytest.approx(0.00256) and near["threads"] == 1


def test_limits_figures_without_a_figure_say_none() -> None:
    grid = [_cell(None, 1, 0.02), _cell(None, 8, 0.1)]
    unknown = limits_figures({"grid": grid}, {}, macs=None)
    assert unknown["latency_vs_floor"] is None and unknown["gflops"] is None
    assert unknown["peak_fraction"] is None and unknown["threads"] is None
    cuda_only = [{**_cell(None, 1, 0.02), "provider": "cuda"}]
    assert limits_figures({"grid": cuda_only}, {}, macs=10) == {
        "latency_vs_floor": None,
        "gflops": None,
        "peak_fraction": None,
    }
