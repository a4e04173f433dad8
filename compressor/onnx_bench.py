"""Measuring ONNX models in onnxruntime: accuracy, latency percentiles, throughput, size.

Shared by the ``benchmark`` stage and ``compressor bench MODEL.onnx``. Imported at run time
only, so onnxruntime and numpy load here at module level.

Latency is the wall-clock time of one ``session.run`` call (``time.perf_counter``), inputs
already in host memory; with the CUDA provider it includes the host-device copies, as a
deployed service would see.
"""

from __future__ import annotations

import time
from collections.abc import Callable
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
    path: str | Path, threads: int | None = None, device: str = "cpu"
) -> ort.InferenceSession:
    """Open ``path`` in onnxruntime with every graph optimization on.

    Args:
        path: The ``.onnx`` file.
        threads: Intra-op threads; ``None`` keeps onnxruntime's default (one per core).
        device: ``cuda...`` adds the CUDA provider first when this onnxruntime has it.
    """
    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.log_severity_level = 3  # errors only: ORT warns about routine graph rewrites
    if threads is not None:
        options.intra_op_num_threads = threads
    return ort.InferenceSession(str(path), options, providers=providers_for(device))


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


def measure_latency(
    session: RunsOnnx,
    inputs: np.ndarray,
    warmup: int = 10,
    repeat: int = 100,
    min_seconds: float = 0.5,
) -> dict[str, float]:
    """Time ``session.run`` on ``inputs``: ``warmup`` untimed calls, then at least ``repeat``
    timed calls and at least ``min_seconds`` of them.

    Returns:
        Milliseconds per call: ``p50``, ``p90``, ``p95``, ``p99``, ``mean``, ``min``; and
        ``runs``, the number of timed calls.
    """
    outputs, feed = _feed(session, inputs)
    for _ in range(warmup):
        session.run(outputs, feed)
    times: list[float] = []
    clock = time.perf_counter
    started = clock()
    while len(times) < repeat or clock() - started < min_seconds:
        t0 = clock()
        session.run(outputs, feed)
        times.append(clock() - t0)
    ms = np.asarray(times) * 1000.0
    stats = {f"p{q}": float(v) for q, v in zip(PERCENTILES, np.percentile(ms, PERCENTILES), strict=True)}
    stats["mean"] = float(ms.mean())
    stats["min"] = float(ms.min())
    stats["runs"] = len(times)
    return stats


def onnx_accuracy(session: RunsOnnx, split: Split, batch_size: int) -> float:
    """Top-1 accuracy (0..1) of the model on ``split``, in batches of ``batch_size``."""
    x = split.x.detach().cpu().numpy().astype(np.float32, copy=False)
    y = split.y.detach().cpu().numpy()
    if len(y) == 0:
        return float("nan")
    outputs, _ = _feed(session, x[:1])
    name = session.get_inputs()[0].name
    correct = 0
    for start in range(0, len(y), batch_size):
        (logits,) = session.run(outputs, {name: np.ascontiguousarray(x[start : start + batch_size])})
        correct += int((logits.argmax(axis=-1) == y[start : start + batch_size]).sum())
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
