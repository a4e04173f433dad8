"""The benchmark part of ``report.md``: the side-by-side tables of a benchmark stage, the
machine's limits, the INT8 comparison, and every timed cell."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from compressor.bench.timing import UNSTABLE_SPREAD, thread_label
from compressor.report.format import (
    MISSING,
    format_bytes,
    format_count,
    format_limits,
    format_ms,
    format_per_s,
    format_percent,
    format_points,
    format_ratio,
    format_spread,
    markdown_table,
)
from compressor.report.metric import Headline, stage_headline


def limits_line(metrics: dict[str, Any]) -> str:
    """The machine's limits as measured in the run, in one sentence.

    Args:
        metrics: A benchmark stage's metrics.

    Returns:
        The sentence, or ``""`` when the stage did not measure the limits.
    """
    limits = metrics.get("limits") or {}
    if not limits:
        return ""
    shape = "×".join(str(d) for d in metrics.get("peak_matmul", [])) or "large"
    parts = [format_limits(t, v) for t, v in limits.items()]
    return (
        "This machine's limits, measured in the same run (an Identity model at batch 1; a "
        f"{shape} float MatMul): " + "; ".join(parts) + ". INT8 files count integer "
        "operations against that float peak, so they can pass 100%."
    )


def _faster_or_slower(ratio: float | None, slower: bool | None) -> str:
    """``2.0× faster``, or ``**1.5× slower**`` in bold when the INT8 file lost."""
    if ratio is None:
        return MISSING
    return f"**{1 / ratio:.1f}× slower**" if slower else f"{ratio:.1f}× faster"


def _same_graph(ratio: float | None) -> str:
    """A ratio between two timings of one graph: ``1.01×``, noise rather than a result."""
    return MISSING if ratio is None else f"{ratio:.2f}×"


def int8_lines(metrics: dict[str, Any]) -> list[str]:
    """One bullet per INT8 file next to its FP32 file, saying plainly when INT8 is slower.

    Args:
        metrics: A benchmark stage's metrics.

    Returns:
        The bullets, and a closing one on why INT8 can be slower when it is; none without
        INT8 files. A file the quantize stage kept FP32 says "kept FP32".
    """
    lines = []
    # A file the quantize stage kept FP32 (mode: auto) is the FP32 graph under the INT8 name.
    kept_fp32 = [c for c in metrics.get("int8", []) if c.get("quantization") == "fp32"]
    for c in kept_fp32:
        lines.append(
            f"- `{c['int8']}` vs `{c['fp32']}` (FP32): **kept FP32**: the quantize stage "
            "measured no INT8 candidate faster than FP32, so this file is the FP32 graph "
            f"({_same_graph(c.get('latency_speedup'))} at batch {c.get('latency_batch')}, "
            f"{_same_graph(c.get('throughput_ratio'))} at batch {c.get('throughput_batch')})."
        )
    int8 = [c for c in metrics.get("int8", []) if c not in kept_fp32]
    metric = stage_headline(metrics)
    for c in int8:
        at_latency = _faster_or_slower(c.get("latency_speedup"), c.get("slower"))
        at_throughput = _faster_or_slower(c.get("throughput_ratio"), c.get("slower_at_throughput"))
        lines.append(
            f"- `{c['int8']}` ({c.get('quantization') or 'INT8'} INT8) vs `{c['fp32']}` (FP32): "
            f"{format_ratio(c.get('size_ratio'))} smaller file, {metric.label} "
            f"{format_points(c.get(f'{metric.key}_delta_points'))} points; {at_latency} at batch "
            f"{c.get('latency_batch')}, {at_throughput} at batch {c.get('throughput_batch')}."
        )
    if any(c.get("slower") or c.get("slower_at_throughput") for c in int8):
        lines.append(
            "- INT8 is slower than FP32 here where noted: on small layers the quantize/dequantize "
            "steps cost more than the integer arithmetic saves. It is kept in the table: the "
            "smaller file may still be what you ship."
        )
    return lines


def grid_section(models: dict[str, Any]) -> list[str]:
    """Every timed cell: model, provider, threads, batch, percentiles, throughput, eager, and
    how far apart the medians of its interleaved rounds were.

    Args:
        models: A benchmark stage's figures per model.

    Returns:
        The section's lines (none when no model has a grid), with a warning under the table
        when a cell's rounds disagree by more than ``UNSTABLE_SPREAD``.
    """
    header = [
        "model",
        "provider",
        "threads",
        "batch",
        "p50",
        "p90",
        "p95",
        "p99",
        "throughput",
        "PyTorch eager p50",
        "rounds apart",
    ]
    rows = []
    unstable = False
    for name, m in models.items():
        eager = {
            (e["threads"], e["batch"]): e["p50"]
            for e in m.get("torch_eager", [])
            if e.get("device") == "cpu"
        }
        for g in m.get("grid", []):
            on_cpu = g["provider"] == "cpu"
            rows.append(
                [
                    f"`{name}`",
                    g["provider"],
                    thread_label(g["threads"]),
                    str(g["batch"]),
                    *(format_ms(g.get(p)) for p in ("p50", "p90", "p95", "p99")),
                    format_per_s(g.get("throughput_per_s")),
                    format_ms(eager.get((g["threads"], g["batch"]))) if on_cpu else MISSING,
                    format_spread(g.get("round_spread")),
                ]
            )
            unstable = unstable or (g.get("round_spread") or 0.0) > UNSTABLE_SPREAD
    if not rows:
        return []
    lines = ["### Every measurement", "", *markdown_table(header, rows), ""]
    if unstable:
        lines += [
            (
                f"⚠ The rounds of these cells disagree by more than {100 * UNSTABLE_SPREAD:.0f}% "
                "on the median: something else ran, or the host scheduled the cores differently, "
                "while they were timed. Their figures will not repeat; rerun on a quiet machine "
                "(or with fewer threads) before comparing them."
            ),
            "",
        ]
    return lines


def _figures_table(models: dict[str, Any], metric: Headline) -> list[str]:
    """One row per model: the task's metric (accuracy, mAP), headline latency and throughput,
    counts, size; PyTorch eager and the machine's limits when measured."""
    first = next(iter(models.values()))
    lat_b, thr_b = first.get("latency_batch", 1), first.get("throughput_batch", "?")
    has_limits = any("limits" in m for m in models.values())
    has_eager = any("torch_latency_ms" in m for m in models.values())
    header = [
        "model",
        f"{metric.label} (onnxruntime)",
        f"p50 latency, batch {lat_b}",
        f"p95 latency, batch {lat_b}",
        f"throughput, batch {thr_b}",
        "parameters",
        "MACs",
        "ONNX size",
    ]
    if has_eager:
        header.insert(4, f"PyTorch eager p50, batch {lat_b}")
    if has_limits:
        header += [f"× per-call floor, batch {lat_b}", f"GFLOP/s, batch {thr_b} (of peak)"]
    rows = []
    for name, m in models.items():
        lat = m.get("latency_ms", {})
        precision = m.get("precision", "fp32")
        label = f"`{name}`" + (f" ({precision.upper()})" if precision != "fp32" else "")
        row = [
            label,
            format_percent(m.get(metric.key)),
            format_ms(lat.get("p50")),
            format_ms(lat.get("p95")),
            format_per_s(m.get("throughput_per_s")),
            format_count(m.get("params")),
            format_count(m.get("macs")),
            format_bytes(m.get("file_bytes")),
        ]
        if has_eager:
            row.insert(4, format_ms(m.get("torch_latency_ms")))
        if has_limits:
            lim = m.get("limits") or {}
            gflops, frac = lim.get("gflops"), lim.get("peak_fraction")
            row += [
                format_ratio(lim.get("latency_vs_floor")),
                MISSING if gflops is None else f"{gflops:.1f} ({100 * (frac or 0):.0f}%)",
            ]
        rows.append(row)
    return markdown_table(header, rows)


def _ratios_table(models: dict[str, Any], metric: Headline) -> list[str]:
    """One row per model: its ratios against the reference."""
    header = [
        "model",
        f"{metric.label} Δ (points)",
        "faster at p50",
        "throughput ×",
        "fewer parameters",
        "fewer MACs",
        "smaller file",
    ]
    rows = []
    for name, m in models.items():
        r = m.get("ratios", {})
        rows.append(
            [
                f"`{name}`",
                format_points(r.get(f"{metric.key}_delta_points")),
                format_ratio(r.get("latency_speedup")),
                format_ratio(r.get("throughput_ratio")),
                format_ratio(r.get("params_ratio")),
                format_ratio(r.get("macs_ratio")),
                format_ratio(r.get("size_ratio")),
            ]
        )
    return markdown_table(header, rows)


def benchmark_section(
    stage: str, metrics: dict[str, Any], plots: list[str] | None = None
) -> list[str]:
    """The side-by-side tables of a benchmark stage, its plots, and the INT8 comparison.

    Args:
        stage: The stage's name.
        metrics: Its metrics.
        plots: PNG file names relative to the run folder, shown under the tables.

    Returns:
        The section's lines; none when the stage measured no model.
    """
    models: dict[str, Any] = metrics.get("models", {})
    if not models:
        return []
    reference = metrics.get("reference", next(iter(models)))
    counts = metrics.get("thread_counts") or [metrics.get("threads")]
    batches = metrics.get("batch_sizes")
    setup = (
        f"onnxruntime {', '.join(metrics.get('providers', []))}, intra-op threads: "
        f"{', '.join(thread_label(t) for t in counts)}"
        + (f"; batch sizes {', '.join(str(b) for b in batches)}" if batches else "")
        + f"; {metrics.get('split', 'test')} split. Headline figures use the first thread count."
    )
    lines = [f"## Benchmark (`{stage}`)", "", setup, ""]
    if metrics.get("limits"):
        lines += [limits_line(metrics), ""]
    metric = stage_headline(metrics)
    lines += [*_figures_table(models, metric), ""]
    lines += [f"Ratios against `{reference}`:", "", *_ratios_table(models, metric), ""]
    int8 = int8_lines(metrics)
    if int8:
        lines += ["INT8 next to FP32:", "", *int8, ""]
    for plot in plots or []:
        lines += [f"![{Path(plot).stem.replace('_', ' ')}]({plot})", ""]
    lines += grid_section(models)
    return lines
