"""Benchmarking several ONNX files side by side: accuracy, and latency per provider, thread
count and batch size, every cell timed in the same interleaved rounds.

Shared by the ``benchmark`` stage and ``compressor bench MODEL.onnx``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from compressor.bench.limits import limit_cells, limits_of
from compressor.bench.session import PROVIDER_NAMES, batch_of, make_session, onnx_score
from compressor.bench.timing import Cell, throughput_per_s, time_cells
from compressor.data import DataSplit

if TYPE_CHECKING:
    from compressor.data import DataBundle
    from compressor.task import Task


@dataclass
class _Prepared:
    """One file ready to time: its input description, counts and the task's figures."""

    path: Path
    spec: Any
    params: int
    macs: int | None
    figures: dict[str, Any]


def _prepare(
    path: Path,
    split: DataSplit,
    mean: Any,
    std: Any,
    batches: list[int],
    eval_batch_size: int,
    scoring: tuple[Task | None, DataBundle | None],
) -> _Prepared:
    """Check that ``path`` takes ``split``'s samples at ``batches``, count it, score it by the
    task's metric (``scoring``: the task and its data)."""
    from compressor.errors import UsageError
    from compressor.onnx.inspection import (
        check_sample_shape,
        count_macs,
        count_params,
        input_spec,
        load_onnx,
        to_model_inputs,
    )

    proto = load_onnx(path)
    spec = input_spec(proto)
    check_sample_shape(spec, tuple(split.input_shape), "the data", path.name)
    params, macs = count_params(proto), count_macs(proto)
    del proto
    fixed = spec.fixed_batch
    if fixed is not None and batches != [fixed]:
        raise UsageError(
            f"{path.name} has a fixed batch size of {fixed}: benchmark it at batch {fixed} only"
        )
    task, data = scoring
    figures = onnx_score(
        make_session(path, providers=[PROVIDER_NAMES["cpu"]]),
        split,
        fixed or eval_batch_size,
        convert=lambda x: to_model_inputs(x, spec, mean, std),
        pad=fixed is not None,
        task=task,
        data=data,
    )
    return _Prepared(path, spec, params, macs, figures)


def _file_cells(
    prepared: dict[str, _Prepared],
    split: DataSplit,
    mean: Any,
    std: Any,
    batches: list[int],
    threads: list[int | None] | tuple[int | None, ...],
    providers: list[str] | tuple[str, ...],
) -> tuple[list[Cell], dict[str, list[str]]]:
    """One cell per (file, provider, threads, batch), keyed so; and the providers each file's
    sessions really use. Threads vary on the CPU only: other providers get one session."""
    from compressor.onnx.inspection import to_model_inputs

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
    return cells, used


def _grids(
    cells: list[Cell], stats: list[dict[str, float]], *, names: list[str]
) -> dict[str, list[dict[str, Any]]]:
    """Each file's grid from the timed cells of :func:`_file_cells` and their figures.

    A grid has one entry per (provider, threads, batch) cell, in the cells' order: those keys,
    the cell's figures and its throughput at the median.
    """
    grids: dict[str, list[dict[str, Any]]] = {name: [] for name in names}
    for cell, figures in zip(cells, stats, strict=True):
        name, provider, count, batch = cell.key
        grids[name].append(
            {
                "provider": provider,
                "threads": count,
                "batch": batch,
                **figures,
                "throughput_per_s": throughput_per_s(batch, figures["p50"]),
            }
        )
    return grids


def _results(
    item: _Prepared, grid: list[dict[str, Any]], headline: str, used: list[str]
) -> dict[str, Any]:
    """One file's figures: its grid and the headline cells of ``headline`` provider."""
    head = [g for g in grid if g["provider"] == headline and g["threads"] == grid[0]["threads"]]
    latency, throughput = head[0], head[-1]
    return {
        **item.figures,
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
        "providers": used,
    }


def benchmark_files(
    paths: dict[str, str | Path],
    split: DataSplit,
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
    task: Task | None = None,
    data: DataBundle | None = None,
) -> tuple[dict[str, dict[str, Any]], dict[str, dict[str, float]]]:
    """The task's metric, and latency per provider, thread count and batch size, of several
    files.

    It is one piece: most of its length documents the keyword arguments that the benchmark
    stage and ``compressor bench`` pass by name; the work is in :func:`_prepare`,
    :func:`_file_cells` and :func:`_grids`.

    Every (file, provider, threads, batch) cell, and with ``limits`` the machine's references
    (:func:`compressor.bench.limits.limit_cells`), is timed in ``rounds`` interleaved rounds
    (:func:`~compressor.bench.timing.time_cells`): files and references measured in one call
    see the same conditions. Samples are fed as each model takes them: normalized, or raw
    pixels for a model with embedded preprocessing
    (:func:`compressor.onnx.inspection.to_model_inputs`).

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
        warmup, repeat, min_seconds: Per cell, see :func:`~compressor.bench.timing.time_cells`.
        rounds: Interleaved rounds the timed calls are spread over.
        limits: Also time the per-call floor and the MatMul peak (when ``cpu`` is a provider).
        on_step: Called after each scoring pass (``accuracy``, or the task's metric key) and
            each round (``round``).
        task: The run's task, whose metric scores the files (default: classification).
        data: The run's dataset (the task's scorer reads its classes and input shape).

    Returns:
        ``(results, limits)``. ``results``: name -> the task's figures (``accuracy``;
        ``map``, ``map50``, ...), ``input`` (dtype, shape,
        embedded), ``grid`` (one entry per provider, threads and batch: p50/p90/p95/p99/mean/min
        ms, runs, round_spread, throughput_per_s), the headline ``latency_batch``,
        ``latency_ms``, ``throughput_batch``, ``throughput_per_s``, ``runs``, ``file_bytes``,
        ``graph_params`` and ``graph_macs`` counted in the graph, and ``providers`` used.
        ``limits``: ``{thread_label: {"floor_ms": ..., "matmul_gflops": ...}}``, empty without
        ``limits``.

    Raises:
        UsageError: A file is not ONNX, its input does not fit ``split``'s samples, or it has a
            fixed batch size other than the ones asked for.
    """
    step = on_step or (lambda name, value: None)
    batches = sorted(set(batch_sizes))
    prepared: dict[str, _Prepared] = {}
    key = task.metric.key if task is not None else "accuracy"
    for name, path in paths.items():
        prepared[name] = _prepare(
            Path(path), split, mean, std, batches, eval_batch_size, (task, data)
        )
        step(key, prepared[name].figures[key])

    cells, used = _file_cells(prepared, split, mean, std, batches, threads, providers)
    references = limit_cells(threads) if limits and "cpu" in providers else []
    stats = time_cells(
        cells + references,
        warmup=warmup,
        repeat=repeat,
        min_seconds=min_seconds,
        rounds=rounds,
        on_round=lambda index: step("round", index + 1),
    )

    grids = _grids(cells, stats[: len(cells)], names=list(prepared))
    results = {
        name: _results(item, grids[name], providers[0], used[name])
        for name, item in prepared.items()
    }
    return results, limits_of(references, stats[len(cells) :])
