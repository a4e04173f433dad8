"""Measuring ONNX models in onnxruntime: accuracy, latency percentiles, throughput, size.

Shared by the ``benchmark`` stage and ``compressor bench MODEL.onnx``. Imported at run time
only, so onnxruntime and numpy load here at module level.

Latency is the wall-clock time of one ``session.run`` call (``time.perf_counter``), inputs
already in host memory; with the CUDA provider it includes the host-device copies, as a
deployed service would see.
"""

from __future__ import annotations

import gc
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import onnxruntime as ort

from compressor.data import Split

#: Percentiles reported, as ``p50``, ``p90``, ...
PERCENTILES = (50, 90, 95, 99)


class RunsOnnx(Protocol):
    """What the measuring functions need from a session (an ``ort.InferenceSession``)."""

    def get_inputs(self) -> Any: ...

    def get_outputs(self) -> Any: ...

    def run(self, output_names: Any, input_feed: dict[str, Any]) -> Any: ...


def providers_for(device: str = "cpu") -> list[str]:
    """Execution providers for ``device``: CUDA first on a ``cuda`` device when available.

    Args:
        device: The run's torch device string (``cpu``, ``cuda``, ``cuda:1``).
    """
    available = ort.get_available_providers()
    providers = ["CPUExecutionProvider"]
    if device.startswith("cuda") and "CUDAExecutionProvider" in available:
        providers.insert(0, "CUDAExecutionProvider")
    return providers


def make_session(
    path: str | Path | bytes,
    threads: int | None = None,
    device: str = "cpu",
    providers: list[str] | None = None,
) -> ort.InferenceSession:
    """Open ``path`` in onnxruntime with every graph optimization on.

    Args:
        path: The ``.onnx`` file, or a serialized model.
        threads: Intra-op threads; ``None`` keeps onnxruntime's default (one per core).
        device: ``cuda...`` adds the CUDA provider first when this onnxruntime has it.
        providers: Explicit execution providers, overriding ``device``.
    """
    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.log_severity_level = 3  # errors only: ORT warns about routine graph rewrites
    if threads is not None:
        options.intra_op_num_threads = threads
    model = path if isinstance(path, bytes) else str(path)
    return ort.InferenceSession(model, options, providers=providers or providers_for(device))


def batch_of(split: Split, batch_size: int) -> np.ndarray:
    """The first ``batch_size`` inputs of ``split`` as float32, repeating rows if it is smaller.

    Real inputs rather than random ones: some kernels' speed depends on the values (e.g.
    ReLU sparsity, denormals).
    """
    x = split.x.detach().cpu().numpy().astype(np.float32, copy=False)
    if len(x) == 0:
        raise ValueError("cannot build a batch from an empty split")
    rows = np.arange(batch_size) % len(x)
    return np.ascontiguousarray(x[rows])


def _feed(session: RunsOnnx, inputs: np.ndarray) -> tuple[list[str], dict[str, np.ndarray]]:
    return [session.get_outputs()[0].name], {session.get_inputs()[0].name: inputs}


def summarize(times: list[float]) -> dict[str, float]:
    """Milliseconds per call from call times in seconds: percentiles, mean, min and ``runs``."""
    ms = np.asarray(times) * 1000.0
    stats: dict[str, Any] = {
        f"p{q}": float(v) for q, v in zip(PERCENTILES, np.percentile(ms, PERCENTILES), strict=True)
    }
    stats["mean"] = float(ms.mean())
    stats["min"] = float(ms.min())
    stats["runs"] = len(times)
    return stats


@dataclass
class Cell:
    """One thing to time: a session and the input it is called with.

    Attributes:
        session: The model (an ``ort.InferenceSession``).
        inputs: The input batch.
        key: What the caller needs to find the cell's figures again.
        times: Seconds per timed call, filled by :func:`time_cells`.
        round_medians: The median call of each round, in seconds.
    """

    session: RunsOnnx
    inputs: np.ndarray
    key: Any = None
    times: list[float] = field(default_factory=list)
    round_medians: list[float] = field(default_factory=list)


def time_cells(
    cells: list[Cell],
    *,
    warmup: int = 10,
    repeat: int = 100,
    min_seconds: float = 0.5,
    rounds: int = 1,
    on_round: Callable[[int], None] | None = None,
) -> list[dict[str, float]]:
    """Time every cell: ``warmup`` untimed calls each, then at least ``repeat`` timed calls and at
    least ``min_seconds`` of them each, spread over ``rounds`` interleaved rounds.

    With several rounds each cell is timed in ``rounds`` slices visited in turn, so a burst of
    load from another process lands on every cell a little rather than on one cell entirely:
    the cells of one run are compared under the same conditions, and a cell's p50 does not
    depend on which second it happened to be measured in.

    Returns:
        One :func:`summarize` dict per cell, in order, with ``round_spread``: how far apart the
        slowest and the fastest round's medians are (0.25 = 25%; 0 with one round). Above
        :data:`compressor.report.UNSTABLE_SPREAD` the conditions changed while the cell was
        timed, and the report says so.
    """
    rounds = max(1, rounds)
    # As timeit does: a garbage collection pass inside a timed call is noise, not the model.
    collecting = gc.isenabled()
    gc.disable()
    try:
        _run_rounds(cells, warmup, repeat, min_seconds, rounds, on_round)
    finally:
        if collecting:
            gc.enable()
    return [
        {**summarize(cell.times), "round_spread": round_spread(cell.round_medians)}
        for cell in cells
    ]


def round_spread(medians: list[float]) -> float:
    """``max / min - 1`` of per-round medians (0 for fewer than two rounds)."""
    if len(medians) < 2 or min(medians) <= 0:
        return 0.0
    return max(medians) / min(medians) - 1.0


def _run_rounds(
    cells: list[Cell],
    warmup: int,
    repeat: int,
    min_seconds: float,
    rounds: int,
    on_round: Callable[[int], None] | None,
) -> None:
    """The timing loop of :func:`time_cells` (which owns the garbage collector around it)."""
    clock = time.perf_counter
    feeds = [_feed(cell.session, cell.inputs) for cell in cells]
    for cell, (outputs, feed) in zip(cells, feeds, strict=True):
        for _ in range(warmup):
            cell.session.run(outputs, feed)
    calls = -(-repeat // rounds)  # ceil: at least `repeat` calls in all
    seconds = min_seconds / rounds
    for index in range(rounds):
        for cell, (outputs, feed) in zip(cells, feeds, strict=True):
            done = 0
            started = clock()
            while done < calls or clock() - started < seconds:
                t0 = clock()
                cell.session.run(outputs, feed)
                cell.times.append(clock() - t0)
                done += 1
            cell.round_medians.append(float(np.median(cell.times[-done:])))
        if on_round is not None:
            on_round(index)


def measure_latency(
    session: RunsOnnx,
    inputs: np.ndarray,
    warmup: int = 10,
    repeat: int = 100,
    min_seconds: float = 0.5,
) -> dict[str, float]:
    """Time ``session.run`` on ``inputs``: ``warmup`` untimed calls, then at least ``repeat``
    timed calls, going on until they have taken at least ``min_seconds`` of wall-clock time.

    Returns:
        Milliseconds per call: ``p50``, ``p90``, ``p95``, ``p99``, ``mean``, ``min``; and
        ``runs``, the number of timed calls.
    """
    (stats,) = time_cells(
        [Cell(session, inputs)], warmup=warmup, repeat=repeat, min_seconds=min_seconds
    )
    return stats


def onnx_accuracy(
    session: RunsOnnx,
    split: Split,
    batch_size: int,
    convert: Callable[[np.ndarray], np.ndarray] | None = None,
    pad: bool = False,
) -> float:
    """Top-1 accuracy (0..1) of the model on ``split``, in batches of ``batch_size``.

    Args:
        session: The model.
        split: Labelled, normalized samples.
        batch_size: Samples per ``session.run``.
        convert: Turns normalized samples into the model's input (raw pixels for a model with
            embedded preprocessing, see :func:`compressor.onnx.inspection.to_model_inputs`).
        pad: Pad the last batch to ``batch_size`` (for graphs with a fixed batch size).
    """
    x = split.x.detach().cpu().numpy().astype(np.float32, copy=False)
    if convert is not None:
        x = convert(x)
    y = split.y.detach().cpu().numpy()
    if len(y) == 0:
        return float("nan")
    outputs, _ = _feed(session, x[:1])
    name = session.get_inputs()[0].name
    correct = 0
    for start in range(0, len(y), batch_size):
        chunk = x[start : start + batch_size]
        short = len(chunk)
        if pad and short < batch_size:
            # A graph with a fixed batch size takes nothing else: pad, then drop the padding.
            chunk = chunk[np.arange(batch_size) % short]
        (logits,) = session.run(outputs, {name: np.ascontiguousarray(chunk)})
        correct += int((logits[:short].argmax(axis=-1) == y[start : start + batch_size]).sum())
    return correct / len(y)


def benchmark_file(
    path: str | Path,
    split: Split,
    *,
    eval_batch_size: int = 256,
    latency_batch: int = 1,
    throughput_batch: int = 256,
    warmup: int = 10,
    repeat: int = 100,
    min_seconds: float = 0.5,
    threads: int | None = None,
    device: str = "cpu",
    on_step: Callable[[str, float], None] | None = None,
) -> dict[str, Any]:
    """Accuracy, latency and throughput of one ``.onnx`` file on ``split``.

    Args:
        path: The model file.
        split: Labelled data: accuracy is measured on all of it, timing inputs come from it.
        eval_batch_size: Batch size of the accuracy pass.
        latency_batch: Batch size of the latency measurement (1: one request at a time).
        throughput_batch: Batch size of the throughput measurement.
        warmup, repeat, min_seconds: See :func:`measure_latency`.
        threads: onnxruntime intra-op threads (``None``: its default).
        device: ``cuda...`` uses the CUDA provider when available.
        on_step: Called after each of the three measurements with its name and value.

    Returns:
        ``accuracy``, ``latency_batch``, ``latency_ms`` (p50/p90/p95/p99/mean), ``runs``,
        ``throughput_batch``, ``throughput_per_s`` (from the median batch time),
        ``file_bytes`` and ``providers`` (those the session really uses).
    """
    session = make_session(path, threads=threads, device=device)
    step = on_step or (lambda name, value: None)

    accuracy = onnx_accuracy(session, split, eval_batch_size)
    step("accuracy", accuracy)

    latency = measure_latency(session, batch_of(split, latency_batch), warmup, repeat, min_seconds)
    step("latency_p50_ms", latency["p50"])

    batch = measure_latency(session, batch_of(split, throughput_batch), warmup, repeat, min_seconds)
    # The median batch time: one slow call (a page fault, a scheduler hiccup) must not move it.
    throughput = throughput_batch / (batch["p50"] / 1000.0) if batch["p50"] > 0 else float("inf")
    step("throughput_per_s", throughput)

    return {
        "accuracy": accuracy,
        "latency_batch": latency_batch,
        "latency_ms": {k: latency[k] for k in ("p50", "p90", "p95", "p99", "mean")},
        "runs": {"latency": latency["runs"], "throughput": batch["runs"]},
        "throughput_batch": throughput_batch,
        "throughput_per_s": throughput,
        "file_bytes": Path(path).stat().st_size,
        "providers": list(session.get_providers()),
    }


# --- this machine's limits, measured in the same run ---------------------------------------

#: The reference MatMul, (M, K) x (K, N): 0.13 GFLOP, about a millisecond on one core; large
#: enough for onnxruntime's MLAS kernels to reach their sustained speed, with a 1 MiB weight
#: that stays in cache as a small model's weights do (a 4 MiB one runs ~10% slower).
PEAK_MATMUL = (256, 512, 512)
#: Short names of the execution providers, as recipes and metrics spell them.
PROVIDER_NAMES = {"cpu": "CPUExecutionProvider", "cuda": "CUDAExecutionProvider"}


def _serialized(graph: Any) -> bytes:
    from onnx import helper

    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)]).SerializeToString()


def identity_model() -> bytes:
    """A one-node model (``Identity`` on a ``[batch, 1]`` float input): nothing but call overhead."""
    from onnx import TensorProto, helper

    x = helper.make_tensor_value_info("input", TensorProto.FLOAT, ["batch", 1])
    y = helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["batch", 1])
    node = helper.make_node("Identity", ["input"], ["logits"])
    return _serialized(helper.make_graph([node], "identity", [x], [y]))


def matmul_model(m: int, k: int, n: int, seed: int = 0) -> bytes:
    """A one-node model multiplying an ``(m, k)`` input by a constant ``(k, n)`` weight."""
    from onnx import TensorProto, helper, numpy_helper

    weight = np.random.default_rng(seed).standard_normal((k, n)).astype(np.float32)
    x = helper.make_tensor_value_info("input", TensorProto.FLOAT, [m, k])
    y = helper.make_tensor_value_info("logits", TensorProto.FLOAT, [m, n])
    node = helper.make_node("MatMul", ["input", "weight"], ["logits"])
    graph = helper.make_graph(
        [node], "matmul", [x], [y], [numpy_helper.from_array(weight, "weight")]
    )
    return _serialized(graph)


def per_call_floor(
    threads: int | None = None,
    providers: list[str] | None = None,
    warmup: int = 50,
    repeat: int = 300,
    min_seconds: float = 0.2,
) -> dict[str, float]:
    """onnxruntime's own cost of one ``session.run`` call: an Identity model at batch 1.

    No model can answer faster than this through onnxruntime's Python API on this machine, so
    a model's batch-1 latency divided by it says how much of the time is the model's own work.

    Returns:
        ``p50_ms`` and ``min_ms`` of the call, and ``runs``.
    """
    session = make_session(identity_model(), threads=threads, providers=providers)
    stats = measure_latency(session, np.zeros((1, 1), np.float32), warmup, repeat, min_seconds)
    return {"p50_ms": stats["p50"], "min_ms": stats["min"], "runs": stats["runs"]}


def matmul_peak(
    threads: int | None = None,
    providers: list[str] | None = None,
    shape: tuple[int, int, int] = PEAK_MATMUL,
    warmup: int = 3,
    repeat: int = 10,
    min_seconds: float = 0.2,
) -> dict[str, float]:
    """The arithmetic speed onnxruntime reaches on a large float MatMul (GFLOP/s).

    A model's own GFLOP/s divided by this says how close it runs to what this machine can do
    with onnxruntime; small layers never get there (call and memory overheads dominate).

    Returns:
        ``gflops`` (from the median call), ``p50_ms``, ``shape`` and ``runs``.
    """
    m, k, n = shape
    session = make_session(matmul_model(m, k, n), threads=threads, providers=providers)
    x = np.random.default_rng(1).standard_normal((m, k)).astype(np.float32)
    stats = measure_latency(session, x, warmup, repeat, min_seconds)
    return {
        "gflops": 2.0 * m * k * n / (stats["p50"] / 1000.0) / 1e9,
        "p50_ms": stats["p50"],
        "shape": [m, k, n],
        "runs": stats["runs"],
    }


def thread_label(threads: int | None) -> str:
    """How a thread count is written in metrics keys: the number, or ``default``."""
    return "default" if threads is None else str(threads)


def available_providers(device: str = "cpu") -> list[str]:
    """Short provider names to benchmark on: ``cpu``, then ``cuda`` when ``device`` is a CUDA
    device and this onnxruntime build has the CUDA provider."""
    return [
        short
        for short in ("cpu", "cuda")
        if short == "cpu"
        or (device.startswith("cuda") and PROVIDER_NAMES[short] in ort.get_available_providers())
    ]


@dataclass
class _Prepared:
    """One file ready to time: its input description, counts and accuracy."""

    path: Path
    spec: Any
    params: int
    macs: int | None
    accuracy: float


def _prepare(
    path: Path,
    split: Split,
    mean: Any,
    std: Any,
    batches: list[int],
    eval_batch_size: int,
) -> _Prepared:
    from compressor.errors import UsageError
    from compressor.onnx.inspection import (
        check_sample_shape,
        count_macs,
        count_params,
        input_spec,
        load_model,
        to_model_inputs,
    )

    proto = load_model(path)
    spec = input_spec(proto)
    check_sample_shape(spec, tuple(split.x.shape[1:]), "the data", path.name)
    params, macs = count_params(proto), count_macs(proto)
    del proto
    fixed = spec.fixed_batch
    if fixed is not None and batches != [fixed]:
        raise UsageError(
            f"{path.name} has a fixed batch size of {fixed}: benchmark it at batch {fixed} only"
        )
    accuracy = onnx_accuracy(
        make_session(path, providers=[PROVIDER_NAMES["cpu"]]),
        split,
        fixed or eval_batch_size,
        convert=lambda x: to_model_inputs(x, spec, mean, std),
        pad=fixed is not None,
    )
    return _Prepared(path, spec, params, macs, accuracy)


def benchmark_files(
    paths: dict[str, str | Path],
    split: Split,
    *,
    mean: tuple[float, ...] | list[float] = (0.0,),
    std: tuple[float, ...] | list[float] = (1.0,),
    batch_sizes: list[int] | tuple[int, ...] = (1, 256),
    threads: list[int | None] | tuple[int | None, ...] = (None,),
    providers: list[str] | tuple[str, ...] = ("cpu",),
    eval_batch_size: int = 256,
    warmup: int = 10,
    repeat: int = 100,
    min_seconds: float = 0.5,
    rounds: int = 5,
    limits: bool = False,
    on_step: Callable[[str, float], None] | None = None,
) -> tuple[dict[str, dict[str, Any]], dict[str, dict[str, float]]]:
    """Accuracy, and latency per provider, thread count and batch size, of several files.

    Every (file, provider, threads, batch) cell, and with ``limits`` the machine's references
    (per-call floor and MatMul peak per CPU thread count), is timed in ``rounds`` interleaved
    rounds (:func:`time_cells`): files and references measured in one call see the same
    conditions. Samples are fed as each model takes them: normalized, or raw pixels for a model
    with embedded preprocessing (:func:`compressor.onnx.inspection.to_model_inputs`).

    Args:
        paths: name -> ``.onnx`` file.
        split: Labelled, normalized data: accuracy on all of it, timing inputs from it.
        mean, std: The normalization of ``split`` (to recover raw pixels).
        batch_sizes: Batch sizes timed; the smallest gives the headline latency, the largest
            the headline throughput.
        threads: CPU intra-op thread counts timed (``None``: onnxruntime's default); the first
            gives the headline figures. Other providers are timed once per batch size.
        providers: Short provider names (``cpu``, ``cuda``); the first gives the headline.
        eval_batch_size: Batch size of the accuracy pass (on the CPU).
        warmup, repeat, min_seconds: Per cell, see :func:`time_cells`.
        rounds: Interleaved rounds the timed calls are spread over.
        limits: Also time the per-call floor and the MatMul peak.
        on_step: Called after each accuracy pass (``accuracy``) and each round (``round``).

    Returns:
        ``(results, limits)``. ``results``: name -> ``accuracy``, ``input`` (dtype, shape,
        embedded), ``grid`` (one entry per provider, threads and batch: p50/p90/p95/p99/mean/min
        ms, runs, throughput_per_s), the headline ``latency_batch``, ``latency_ms``,
        ``throughput_batch``, ``throughput_per_s``, ``runs``, ``file_bytes``, ``graph_params``
        and ``graph_macs`` counted in the graph, and ``providers`` used. ``limits``:
        ``{thread_label: {"floor_ms": ..., "matmul_gflops": ...}}``, empty without ``limits``.

    Raises:
        UsageError: A file is not ONNX, its input does not fit ``split``'s samples, or it has a
            fixed batch size other than the ones asked for.
    """
    from compressor.onnx.inspection import to_model_inputs

    step = on_step or (lambda name, value: None)
    batches = sorted(set(batch_sizes))
    prepared: dict[str, _Prepared] = {}
    for name, path in paths.items():
        prepared[name] = _prepare(Path(path), split, mean, std, batches, eval_batch_size)
        step("accuracy", prepared[name].accuracy)

    cpu = PROVIDER_NAMES["cpu"]
    cells: list[Cell] = []
    used: dict[str, list[str]] = {}
    for name, item in prepared.items():
        used[name] = []
        for provider in providers:
            full = [PROVIDER_NAMES[provider]] + ([cpu] if provider != "cpu" else [])
            for count in threads if provider == "cpu" else [None]:
                session = make_session(item.path, threads=count, providers=full)
                used[name].extend(p for p in session.get_providers() if p not in used[name])
                for batch in batches:
                    x = to_model_inputs(batch_of(split, batch), item.spec, mean, std)
                    cells.append(Cell(session, x, key=(name, provider, count, batch)))
    if limits and "cpu" in providers:
        m, k, n = PEAK_MATMUL
        peak_input = np.random.default_rng(1).standard_normal((m, k)).astype(np.float32)
        for count in threads:
            floor = make_session(identity_model(), threads=count, providers=[cpu])
            peak = make_session(matmul_model(m, k, n), threads=count, providers=[cpu])
            cells.append(Cell(floor, np.zeros((1, 1), np.float32), key=("floor", count)))
            # The peak needs few calls (about a millisecond each), but as much time as a cell.
            cells.append(Cell(peak, peak_input, key=("peak", count)))
    stats = time_cells(
        cells,
        warmup=warmup,
        repeat=repeat,
        min_seconds=min_seconds,
        rounds=rounds,
        on_round=lambda index: step("round", index + 1),
    )

    results: dict[str, dict[str, Any]] = {}
    machine: dict[str, dict[str, float]] = {}
    grids: dict[str, list[dict[str, Any]]] = {name: [] for name in prepared}
    for cell, figures in zip(cells, stats, strict=True):
        if cell.key[0] in ("floor", "peak"):
            entry = machine.setdefault(thread_label(cell.key[1]), {})
            if cell.key[0] == "floor":
                entry["floor_ms"] = figures["p50"]
            else:
                entry["matmul_gflops"] = 2.0 * m * k * n / (figures["p50"] / 1000.0) / 1e9
            continue
        name, provider, count, batch = cell.key
        # The median batch time: one slow call must not move the throughput.
        per_s = batch / (figures["p50"] / 1000.0) if figures["p50"] > 0 else float("inf")
        grids[name].append(
            {
                "provider": provider,
                "threads": count,
                "batch": batch,
                **figures,
                "throughput_per_s": per_s,
            }
        )
    for name, item in prepared.items():
        grid = grids[name]
        head = [
            g for g in grid if g["provider"] == providers[0] and g["threads"] == grid[0]["threads"]
        ]
        latency, throughput = head[0], head[-1]
        results[name] = {
            "accuracy": item.accuracy,
            "input": {
                "dtype": item.spec.dtype,
                "shape": list(item.spec.shape),
                "embedded": item.spec.embedded,
            },
            "grid": grid,
            "latency_batch": latency["batch"],
            "latency_ms": {k: latency[k] for k in ("p50", "p90", "p95", "p99", "mean")},
            "throughput_batch": throughput["batch"],
            "throughput_per_s": throughput["throughput_per_s"],
            "runs": {"latency": latency["runs"], "throughput": throughput["runs"]},
            "file_bytes": item.path.stat().st_size,
            "graph_params": item.params,
            "graph_macs": item.macs,
            "providers": used[name],
        }
    return results, machine


def benchmark_grid(path: str | Path, split: Split, **options: Any) -> dict[str, Any]:
    """:func:`benchmark_files` for one file, without the machine's limits; returns its results."""
    options.pop("limits", None)
    results, _ = benchmark_files({"model": path}, split, **options)
    return results["model"]


def limits_figures(
    figures: dict[str, Any], limits: dict[str, dict[str, float]], macs: float | None
) -> dict[str, float | None]:
    """How close one model runs to the machine's limits, at its headline thread count.

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
    gflops = (
        2.0 * macs * largest["batch"] / (largest["p50"] / 1000.0) / 1e9
        if macs and largest["p50"] > 0
        else None
    )
    return {
        "latency_vs_floor": smallest["p50"] / floor if floor else None,
        "latency_batch": smallest["batch"],
        "gflops": gflops,
        "gflops_batch": largest["batch"],
        "peak_fraction": gflops / peak if gflops is not None and peak else None,
        "threads": threads,
    }
