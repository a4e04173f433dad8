"""The ``benchmark`` stage: the task's metric (accuracy, mAP), latency, throughput and size of
ONNX files in onnxruntime.

Every model is compared with a reference (by default the first, usually the teacher), so the
report can say "3.1x smaller, 2.4x faster, -0.8 accuracy points"; with the machine's own
limits, measured in the same run (onnxruntime's per-call floor and its MatMul peak), so it can
say how much faster a model could still get; and INT8 files with the FP32 file they came from,
faster or not. Nothing is written to disk here: the metrics go to ``metrics.json`` and the
report through ``ctx.log``.
"""

from __future__ import annotations

from typing import Any

from compressor.artifacts import FileArtifact, ModelArtifact
from compressor.context import StageContext
from compressor.errors import UsageError, format_choices
from compressor_stages.onnx_inputs import require_onnx_files


def _ratio(numerator: float | None, denominator: float | None) -> float | None:
    """``numerator / denominator``, or ``None`` when either is unknown or the division is undefined."""
    if numerator is None or denominator is None or denominator == 0:
        return None
    return float(numerator) / float(denominator)


def compute_ratios(
    this: dict[str, Any], ref: dict[str, Any], key: str = "accuracy"
) -> dict[str, float | None]:
    """How ``this`` model compares with the reference ``ref`` (both as logged per model).

    Ratios are oriented so that > 1 means ``this`` is better (smaller, faster); the metric's
    delta (``key``: ``accuracy``, ``map``) is in percentage points, negative when ``this``
    scores lower, logged as ``<key>_delta_points``.
    """
    delta = None
    if this.get(key) is not None and ref.get(key) is not None:
        delta = 100.0 * (this[key] - ref[key])
    return {
        "size_ratio": _ratio(ref["file_bytes"], this["file_bytes"]),
        "params_ratio": _ratio(ref["params"], this["params"]),
        "macs_ratio": _ratio(ref["macs"], this["macs"]),
        "latency_speedup": _ratio(ref["latency_ms"]["p50"], this["latency_ms"]["p50"]),
        "throughput_ratio": _ratio(this["throughput_per_s"], ref["throughput_per_s"]),
        f"{key}_delta_points": delta,
    }


def resolve_reference(models: list[FileArtifact], reference: str | None) -> FileArtifact:
    """The artifact ``reference`` names: by artifact name first, then by source model.

    Raises:
        UsageError: No artifact matches, or the source name matches several files.
    """
    if reference is None:
        return models[0]
    for artifact in models:
        if artifact.name == reference:
            return artifact
    by_source = [a for a in models if a.source == reference]
    if len(by_source) == 1:
        return by_source[0]
    if len(by_source) > 1:
        names = ", ".join(a.name for a in by_source)
        raise UsageError(
            f"benchmark reference {reference!r} is the source of several files ({names}); "
            "name one of them"
        )
    choices = [a.name for a in models] + [a.source for a in models if a.source]
    raise UsageError(
        f"benchmark reference {reference!r} is not one of the benchmarked models; "
        + format_choices(reference, choices)
    )


def int8_comparisons(
    results: dict[str, dict[str, Any]], key: str = "accuracy"
) -> list[dict[str, Any]]:
    """Each benchmarked INT8 file against the FP32 file it was quantized from, when both ran.

    Ratios are oriented like :func:`compute_ratios` (> 1: the INT8 file is better). ``slower``
    says whether INT8 lost at the latency batch, ``slower_at_throughput`` at the largest batch:
    INT8 is not faster everywhere (small layers, dynamic quantization overhead), and the report
    must say so rather than hide it.
    """
    comparisons = []
    for name, m in results.items():
        fp32_name = m.get("quantized_from")
        if fp32_name not in results:
            continue
        f = results[fp32_name]
        speedup = _ratio(f["latency_ms"]["p50"], m["latency_ms"]["p50"])
        throughput = _ratio(m["throughput_per_s"], f["throughput_per_s"])
        comparisons.append(
            {
                "int8": name,
                "fp32": fp32_name,
                "quantization": m.get("quantization"),
                "size_ratio": _ratio(f["file_bytes"], m["file_bytes"]),
                f"{key}_delta_points": 100.0 * (m[key] - f[key]),
                "latency_batch": m["latency_batch"],
                "latency_speedup": speedup,
                "throughput_batch": m["throughput_batch"],
                "throughput_ratio": throughput,
                "slower": speedup is not None and speedup < 1.0,
                "slower_at_throughput": throughput is not None and throughput < 1.0,
            }
        )
    return comparisons


def _eager_grid(
    ctx: StageContext,
    artifact: FileArtifact,
    batches: list[int],
    thread_counts: list[int | None],
    opts: Any,
) -> list[dict[str, Any]]:
    """PyTorch eager latency of the model ``artifact`` was exported from, when the run has it."""
    source = ctx.run.artifacts.get(artifact.source)
    if not isinstance(source, ModelArtifact) or source.model is None:
        return []
    import copy

    import torch

    from compressor.bench.eager import measure_eager, torch_threads
    from compressor.bench.session import batch_of
    from compressor.bench.timing import throughput_per_s

    split = ctx.data.split(opts.split)
    model = copy.deepcopy(source.model).eval()
    devices = [("cpu", count) for count in thread_counts]
    if ctx.device.startswith("cuda"):
        devices.append((ctx.device, None))
    grid = []
    for device, count in devices:
        with torch_threads(count):
            for batch in batches:
                x = torch.from_numpy(batch_of(split, batch))
                stats = measure_eager(
                    model,
                    x,
                    device=device,
                    warmup=opts.warmup,
                    repeat=opts.repeat,
                    min_seconds=opts.min_seconds,
                )
                grid.append(
                    {
                        "device": device,
                        "threads": count,
                        "batch": batch,
                        **stats,
                        "throughput_per_s": throughput_per_s(batch, stats["p50"]),
                    }
                )
    return grid


def _onnx_models(ctx: StageContext) -> list[FileArtifact]:
    """The ``models`` slot as a list of ONNX files.

    Raises:
        UsageError: The slot is empty, or an input is not an ONNX file.
    """
    models = ctx.input("models") or []
    if not isinstance(models, list):
        models = [models]
    if not models:
        raise UsageError("benchmark needs at least one model in its 'models' input")
    return require_onnx_files(models, "benchmark measures")


def _providers(ctx: StageContext, asked: list[str] | None) -> list[str]:
    """The onnxruntime providers to time: those ``asked`` for, else all the device has.

    Raises:
        UsageError: A provider asked for is not in this onnxruntime.
    """
    from compressor.bench.session import available_providers

    present = available_providers("cuda" if ctx.device.startswith("cuda") else "cpu")
    providers = asked or present
    missing = [p for p in providers if p not in available_providers("cuda")]
    if missing:
        raise UsageError(
            f"benchmark providers: {', '.join(missing)} is not available in this onnxruntime "
            "(CUDA needs the onnxruntime-gpu package and a GPU); valid choices: "
            + ", ".join(available_providers("cuda"))
        )
    return providers


def _model_figures(
    ctx: StageContext,
    opts: Any,
    artifact: FileArtifact,
    measured: dict[str, Any],
    limits: dict[str, dict[str, float]],
) -> dict[str, Any]:
    """One model's figures for ``metrics.json``, ratios aside.

    What was measured, its counts and precision, how close it runs to the machine's limits,
    and the PyTorch eager latency of its source model when ``torch_eager`` asks for it.
    """
    from compressor.bench.limits import limits_figures

    meta = artifact.meta
    # The PyTorch counts when the export recorded them, else what the graph holds.
    params = meta.get("params") if meta.get("params") is not None else measured["graph_params"]
    macs = meta.get("macs") if meta.get("macs") is not None else measured["graph_macs"]
    figures: dict[str, Any] = {
        "source": artifact.source,
        "precision": meta.get("precision", "fp32"),
        **measured,
        "params": params,
        "macs": macs,
    }
    for key in ("quantized_from", "quantization"):
        if key in meta:
            figures[key] = meta[key]
    if limits:
        figures["limits"] = limits_figures(measured, limits, macs)
    if opts.torch_eager:
        eager = _eager_grid(ctx, artifact, opts.batches, opts.thread_counts, opts)
        if eager:
            figures["torch_eager"] = eager
            figures["torch_latency_ms"] = eager[0]["p50"]
    return figures


class BenchmarkStage:
    """Measure every ONNX file in the ``models`` slot and compare it with the reference.

    Args:
        options: The validated :class:`~compressor_stages.options.BenchmarkOptions`.
    """

    def __init__(self, options: Any) -> None:
        self.options = options

    def run(self, ctx: StageContext) -> None:
        """Benchmark each model, then log figures and ratios against the reference.

        Per model: accuracy in onnxruntime, latency per provider, thread count and batch size,
        params, MACs, file size, the PyTorch eager latency of its source model, and how close it
        runs to the machine's limits (the per-call floor and the MatMul peak, timed in the same
        interleaved rounds as the files).

        Raises:
            UsageError: An input is not an ONNX file, the slot is empty, the reference is
                unknown, or a provider asked for is not available.
        """
        # Imported here: the stage module is loaded for `compressor plugins`, onnxruntime is not.
        from compressor.bench.limits import PEAK_MATMUL

        opts = self.options
        models = _onnx_models(ctx)
        # Resolve before measuring: a typo should not cost minutes of benchmarking.
        reference = resolve_reference(models, opts.reference)
        providers = _providers(ctx, opts.providers)
        measured_all, limits = self._time_all(ctx, models, providers)
        results: dict[str, dict[str, Any]] = {}
        used: list[str] = []
        for artifact in models:
            measured = measured_all[artifact.name]
            used.extend(p for p in measured.pop("providers") if p not in used)
            results[artifact.name] = _model_figures(ctx, opts, artifact, measured, limits)

        ref = results[reference.name]
        key = ctx.task.metric.key
        for figures in results.values():
            figures["ratios"] = compute_ratios(figures, ref, key)
        ctx.log(
            reference=reference.name,
            metric=key,
            metric_label=ctx.task.metric.label,
            split=opts.split,
            models=results,
            threads=opts.threads,
            thread_counts=opts.thread_counts,
            batch_sizes=opts.batches,
            providers=used,
            limits=limits,
            peak_matmul=list(PEAK_MATMUL),
            int8=int8_comparisons(results, key),
        )

    def _time_all(
        self, ctx: StageContext, models: list[FileArtifact], providers: list[str]
    ) -> tuple[dict[str, dict[str, Any]], dict[str, dict[str, float]]]:
        """Every file, and the machine's references, timed together in interleaved rounds.

        Returns:
            :func:`compressor.bench.files.benchmark_files`'s figures per file, and the
            machine's limits (empty unless ``limits`` is on and the CPU provider is timed).
        """
        from compressor.bench.files import benchmark_files

        opts = self.options
        data = ctx.data
        split = data.split(opts.split)
        with ctx.progress(len(models) + opts.rounds, "benchmark") as bar:

            def advance(name: str, value: float) -> None:
                bar.advance(1, **{name: value})

            return benchmark_files(
                {a.name: a.path for a in models},
                split,
                mean=data.mean,
                std=data.std,
                batch_sizes=opts.batches,
                threads=opts.thread_counts,
                providers=providers,
                eval_batch_size=ctx.eval_batch_size,
                warmup=opts.warmup,
                repeat=opts.repeat,
                min_seconds=opts.min_seconds,
                rounds=opts.rounds,
                limits=opts.limits and "cpu" in providers,
                on_step=advance,
                task=ctx.task,
                data=data,
            )
