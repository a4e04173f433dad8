"""The ``benchmark`` stage: accuracy, latency, throughput and size of ONNX files in onnxruntime.

Every model is compared with a reference (by default the first, usually the teacher), so the
report can say "3.1x smaller, 2.4x faster, -0.8 accuracy points". Nothing is written to
disk here: the metrics go to ``metrics.json`` and the report through ``ctx.log``.
"""

from __future__ import annotations

from typing import Any

from compressor.artifacts import FileArtifact
from compressor.context import StageContext
from compressor.errors import UsageError, format_choices


def _ratio(numerator: float | None, denominator: float | None) -> float | None:
    """``numerator / denominator``, or ``None`` when either is unknown or the division is undefined."""
    if numerator is None or denominator is None or denominator == 0:
        return None
    return float(numerator) / float(denominator)


def compute_ratios(this: dict[str, Any], ref: dict[str, Any]) -> dict[str, float | None]:
    """How ``this`` model compares with the reference ``ref`` (both as logged per model).

    Ratios are oriented so that > 1 means ``this`` is better (smaller, faster); the accuracy
    delta is in percentage points, negative when ``this`` is less accurate.
    """
    delta = None
    if this["accuracy"] is not None and ref["accuracy"] is not None:
        delta = 100.0 * (this["accuracy"] - ref["accuracy"])
    return {
        "size_ratio": _ratio(ref["file_bytes"], this["file_bytes"]),
        "params_ratio": _ratio(ref["params"], this["params"]),
        "macs_ratio": _ratio(ref["macs"], this["macs"]),
        "latency_speedup": _ratio(ref["latency_ms"]["p50"], this["latency_ms"]["p50"]),
        "throughput_ratio": _ratio(this["throughput_per_s"], ref["throughput_per_s"]),
        "accuracy_delta_points": delta,
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


class BenchmarkStage:
    """Measure every ONNX file in the ``models`` slot and compare it with the reference.

    Args:
        options: The validated :class:`~compressor_stages.options.BenchmarkOptions`.
    """

    def __init__(self, options: Any) -> None:
        self.options = options

    def run(self, ctx: StageContext) -> None:
        """Benchmark each model, then log figures and ratios against the reference.

        Raises:
            UsageError: An input is not an ONNX file, the slot is empty, or the reference is
                unknown.
        """
        # Imported here: the stage module is loaded for `compressor plugins`, onnxruntime is not.
        from compressor.onnx_bench import benchmark_file

        opts = self.options
        models = ctx.input("models") or []
        if not isinstance(models, list):
            models = [models]
        if not models:
            raise UsageError("benchmark needs at least one model in its 'models' input")
        for artifact in models:
            if not isinstance(artifact, FileArtifact) or artifact.format != "onnx":
                kind = getattr(artifact, "format", "") or type(artifact).__name__
                raise UsageError(
                    f"benchmark measures ONNX files, but {artifact.name!r} is {kind}; "
                    "export it first (an export stage with exporter onnx)"
                )
        # Resolve before measuring: a typo should not cost minutes of benchmarking.
        reference = resolve_reference(models, opts.reference)

        split = ctx.data.split(opts.split)
        results: dict[str, dict[str, Any]] = {}
        providers: list[str] = []
        with ctx.progress(len(models) * 3, "benchmark") as bar:
            for artifact in models:

                def advance(name: str, value: float, model: str = artifact.name) -> None:
                    bar.advance(1, model=model, **{name: value})

                measured = benchmark_file(
                    artifact.path,
                    split,
                    eval_batch_size=ctx.eval_batch_size,
                    latency_batch=opts.latency_batch,
                    throughput_batch=opts.throughput_batch,
                    warmup=opts.warmup,
                    repeat=opts.repeat,
                    min_seconds=opts.min_seconds,
                    threads=opts.threads,
                    device=ctx.device,
                    on_step=advance,
                )
                providers.extend(p for p in measured.pop("providers") if p not in providers)
                results[artifact.name] = {
                    "source": artifact.source,
                    **measured,
                    "params": artifact.meta.get("params"),
                    "macs": artifact.meta.get("macs"),
                }

        ref = results[reference.name]
        for figures in results.values():
            figures["ratios"] = compute_ratios(figures, ref)
        ctx.log(
            reference=reference.name,
            split=opts.split,
            models=results,
            threads=opts.threads,
            providers=providers,
        )
