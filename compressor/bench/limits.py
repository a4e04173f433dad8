"""This machine's limits, measured in the same run as the models: the per-call floor and the
MatMul peak, and how close a model runs to them.

The floor is onnxruntime's own cost of one ``session.run`` call (an Identity model at batch 1):
no model answers faster through its Python API on this machine, so a model's batch-1 latency
over it says how much of the time is the model's own work. The peak is the arithmetic speed
onnxruntime reaches on a large float MatMul: a model's GFLOP/s over it says how close it runs
to what this machine can do; small layers never get there (call and memory overheads dominate).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from compressor.bench.session import PROVIDER_NAMES, make_session
from compressor.bench.timing import Cell, gflops, thread_label

#: The reference MatMul, (M, K) x (K, N): 0.13 GFLOP, about a millisecond on one core; large
#: enough for onnxruntime's MLAS kernels to reach their sustained speed, with a 1 MiB weight
#: that stays in cache as a small model's weights do (a 4 MiB one runs ~10% slower).
PEAK_MATMUL = (256, 512, 512)


def _serialized(graph: Any) -> bytes:
    from onnx import helper

    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)]).SerializeToString()


def identity_model() -> bytes:
    """A one-node model (``Identity`` on a ``[batch, 1]`` float input): nothing but call overhead.

    Returns:
        The serialized model.
    """
    from onnx import TensorProto, helper

    x = helper.make_tensor_value_info("input", TensorProto.FLOAT, ["batch", 1])
    y = helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["batch", 1])
    node = helper.make_node("Identity", ["input"], ["logits"])
    return _serialized(helper.make_graph([node], "identity", [x], [y]))


def matmul_model(m: int, k: int, n: int, seed: int = 0) -> bytes:
    """A one-node model multiplying an ``(m, k)`` input by a constant ``(k, n)`` weight.

    Args:
        m, k, n: The shapes.
        seed: Seed of the weight's standard normal values.

    Returns:
        The serialized model (the weight is its initializer ``weight``).
    """
    from onnx import TensorProto, helper, numpy_helper

    weight = np.random.default_rng(seed).standard_normal((k, n)).astype(np.float32)
    x = helper.make_tensor_value_info("input", TensorProto.FLOAT, [m, k])
    y = helper.make_tensor_value_info("logits", TensorProto.FLOAT, [m, n])
    node = helper.make_node("MatMul", ["input", "weight"], ["logits"])
    graph = helper.make_graph(
        [node], "matmul", [x], [y], [numpy_helper.from_array(weight, "weight")]
    )
    return _serialized(graph)


def limit_cells(threads: list[int | None] | tuple[int | None, ...]) -> list[Cell]:
    """The per-call floor and the MatMul peak on the CPU, a pair of cells per thread count.

    Timed with the models' cells (:func:`compressor.bench.timing.time_cells`), so the
    references see the same conditions as the models.

    Args:
        threads: CPU intra-op thread counts (``None``: onnxruntime's default).

    Returns:
        Per thread count, a ``("floor", threads)`` cell and then a ``("peak", threads)`` cell.
    """
    cpu = [PROVIDER_NAMES["cpu"]]
    m, k, n = PEAK_MATMUL
    peak_input = np.random.default_rng(1).standard_normal((m, k)).astype(np.float32)
    cells = []
    for count in threads:
        floor = make_session(identity_model(), threads=count, providers=cpu)
        peak = make_session(matmul_model(m, k, n), threads=count, providers=cpu)
        cells.append(Cell(floor, np.zeros((1, 1), np.float32), key=("floor", count)))
        # The peak needs few calls (about a millisecond each), but as much time as a cell.
        cells.append(Cell(peak, peak_input, key=("peak", count)))
    return cells


def limits_of(cells: list[Cell], stats: list[dict[str, float]]) -> dict[str, dict[str, Any]]:
    """The machine's limits from the timed :func:`limit_cells`.

    Args:
        cells: The cells of :func:`limit_cells`.
        stats: Their figures from :func:`~compressor.bench.timing.time_cells`, in order.

    Returns:
        ``{thread_label: {"floor_ms": median call, "matmul_gflops": from the median call}}``.
    """
    m, k, n = PEAK_MATMUL
    machine: dict[str, dict[str, Any]] = {}
    for cell, figures in zip(cells, stats, strict=True):
        kind, count = cell.key
        entry = machine.setdefault(thread_label(count), {})
        if kind == "floor":
            entry["floor_ms"] = figures["p50"]
        else:
            entry["matmul_gflops"] = gflops(k * n, m, figures["p50"])  # m rows of k x n MACs
    return machine


def limits_figures(
    figures: dict[str, Any], limits: dict[str, dict[str, float]], macs: float | None
) -> dict[str, float | None]:
    """How close one model runs to the machine's limits, at its headline thread count.

    Args:
        figures: The model's results from :func:`compressor.bench.files.benchmark_files`.
        limits: The machine's limits, as :func:`limits_of` gives them.
        macs: The model's multiply-accumulates per sample.

    Returns:
        ``latency_vs_floor``: headline (smallest-batch) p50 latency as a multiple of the
        per-call floor; ``gflops``: arithmetic speed at the largest batch (2 x MACs x batch per
        median call; GOP/s for integer models); ``peak_fraction``: that speed over the MatMul
        peak. ``None`` where a figure is unknown.
    """
    cpu = [g for g in figures.get("grid", []) if g["provider"] == "cpu"]
    if not cpu:
        return {"latency_vs_floor": None, "gflops": None, "peak_fraction": None}
    threads = cpu[0]["threads"]
    reference = limits.get(thread_label(threads), {})
    cells = [g for g in cpu if g["threads"] == threads]
    smallest, largest = cells[0], cells[-1]
    floor = reference.get("floor_ms")
    peak = reference.get("matmul_gflops")
    speed = gflops(macs, largest["batch"], largest["p50"])
    return {
        "latency_vs_floor": smallest["p50"] / floor if floor else None,
        "latency_batch": smallest["batch"],
        "gflops": speed,
        "gflops_batch": largest["batch"],
        "peak_fraction": speed / peak if speed is not None and peak else None,
        "threads": threads,
    }
