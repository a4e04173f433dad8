"""``report.md``, its plots and ``report.html``: the run's figures as tables people can read.

Built only from ``metrics.json``, so a report can be rebuilt from a finished run folder
(``compressor report RUN_DIR``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from compressor.atomic import write_text


#: Round medians of one cell further apart than this (max / min - 1) mark it unstable.
UNSTABLE_SPREAD = 0.10


def format_count(value: float | None, unit: str = "") -> str:
    if value is None:
        return "—"
    for factor, prefix in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if abs(value) >= factor:
            return f"{value / factor:.2f} {prefix}{unit}".rstrip()
    return f"{value:.0f} {unit}".rstrip()


def format_bytes(value: float | None) -> str:
    if value is None:
        return "—"
    for factor, unit in ((1 << 20, "MiB"), (1 << 10, "KiB")):
        if value >= factor:
            return f"{value / factor:.1f} {unit}"
    return f"{value:.0f} B"


def _pct(value: float | None) -> str:
    return "—" if value is None else f"{100 * value:.2f}%"


def _ratio(value: float | None) -> str:
    return "—" if value is None else f"{value:.1f}×"


def _table(header: list[str], rows: list[list[str]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return lines


def _ms(value: float | None) -> str:
    """Milliseconds; microseconds below 0.1 ms, where three decimals of a ms say too little."""
    if value is None:
        return "—"
    return f"{1000 * value:.1f} µs" if value < 0.1 else f"{value:.3f} ms"


def _times(value: float | None) -> str:
    return "—" if value is None else f"{value:.1f}×"


def _threads(value: Any) -> str:
    return "default" if value is None else str(value)


def limits_line(metrics: dict[str, Any]) -> str:
    """The machine's limits as measured in the run, in one sentence."""
    limits = metrics.get("limits") or {}
    if not limits:
        return ""
    shape = "×".join(str(d) for d in metrics.get("peak_matmul", [])) or "large"
    parts = [
        f"{t} thread(s): per-call floor "
        f"{1000 * v['floor_ms']:.1f} µs, MatMul peak {v['matmul_gflops']:.0f} GFLOP/s"
        for t, v in limits.items()
    ]
    return (
        "This machine's limits, measured in the same run (an Identity model at batch 1; a "
        f"{shape} float MatMul): " + "; ".join(parts) + ". INT8 files count integer "
        "operations against that float peak, so they can pass 100%."
    )


def int8_lines(metrics: dict[str, Any]) -> list[str]:
    """One bullet per INT8 file next to its FP32 file, saying plainly when INT8 is slower."""
    lines = []
    for c in metrics.get("int8", []):
        speed = c.get("latency_speedup")
        tp = c.get("throughput_ratio")
        at_latency = (
            "—"
            if speed is None
            else (f"**{1 / speed:.1f}× slower**" if c.get("slower") else f"{speed:.1f}× faster")
        )
        at_throughput = (
            "—"
            if tp is None
            else (
                f"**{1 / tp:.1f}× slower**"
                if c.get("slower_at_throughput")
                else f"{tp:.1f}× faster"
            )
        )
        lines.append(
            f"- `{c['int8']}` ({c.get('quantization') or 'INT8'} INT8) vs `{c['fp32']}` (FP32): "
            f"{_ratio(c.get('size_ratio'))} smaller file, accuracy "
            f"{c.get('accuracy_delta_points', 0):+.2f} points; {at_latency} at batch "
            f"{c.get('latency_batch')}, {at_throughput} at batch {c.get('throughput_batch')}."
        )
    if any(c.get("slower") or c.get("slower_at_throughput") for c in metrics.get("int8", [])):
        lines.append(
            "- INT8 is slower than FP32 here where noted: on small layers the quantize/dequantize "
            "steps cost more than the integer arithmetic saves. It is kept in the table: the "
            "smaller file may still be what you ship."
        )
    return lines


def format_spread(value: float | None) -> str:
    """A cell's round spread as a percentage, flagged ⚠ above :data:`UNSTABLE_SPREAD`."""
    if value is None:
        return "—"
    flag = " ⚠" if value > UNSTABLE_SPREAD else ""
    return f"{100 * value:.0f}%{flag}"


def grid_section(models: dict[str, Any]) -> list[str]:
    """Every timed cell: model, provider, threads, batch, percentiles, throughput, eager, and
    how far apart the medians of its interleaved rounds were."""
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
            rows.append(
                [
                    f"`{name}`",
                    g["provider"],
                    _threads(g["threads"]),
                    str(g["batch"]),
                    *(_ms(g.get(p)) for p in ("p50", "p90", "p95", "p99")),
                    f"{g['throughput_per_s']:,.0f} /s",
                    _ms(eager.get((g["threads"], g["batch"]))) if g["provider"] == "cpu" else "—",
                    format_spread(g.get("round_spread")),
                ]
            )
            unstable = unstable or (g.get("round_spread") or 0.0) > UNSTABLE_SPREAD
    if not rows:
        return []
    lines = ["### Every measurement", "", *_table(header, rows), ""]
    if unstable:
        lines += [
            f"⚠ The rounds of these cells disagree by more than {100 * UNSTABLE_SPREAD:.0f}% on "
            "the median: something else ran, or the host scheduled the cores differently, while "
            "they were timed. Their figures will not repeat; rerun on a quiet machine (or with "
            "fewer threads) before comparing them.",
            "",
        ]
    return lines


def benchmark_section(
    stage: str, metrics: dict[str, Any], plots: list[str] | None = None
) -> list[str]:
    """The side-by-side tables of a benchmark stage, its plots, and the INT8 comparison."""
    models: dict[str, Any] = metrics.get("models", {})
    if not models:
        return []
    first = next(iter(models.values()))
    lat_b, thr_b = first.get("latency_batch", 1), first.get("throughput_batch", "?")
    has_limits = any("limits" in m for m in models.values())
    has_eager = any("torch_latency_ms" in m for m in models.values())
    header = [
        "model",
        "accuracy (onnxruntime)",
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
            _pct(m.get("accuracy")),
            _ms(lat.get("p50")),
            _ms(lat.get("p95")),
            f"{m.get('throughput_per_s', 0):,.0f} /s",
            format_count(m.get("params")),
            format_count(m.get("macs")),
            format_bytes(m.get("file_bytes")),
        ]
        if has_eager:
            row.insert(4, _ms(m.get("torch_latency_ms")))
        if has_limits:
            lim = m.get("limits") or {}
            gflops, frac = lim.get("gflops"), lim.get("peak_fraction")
            row += [
                _times(lim.get("latency_vs_floor")),
                "—" if gflops is None else f"{gflops:.1f} ({100 * (frac or 0):.0f}%)",
            ]
        rows.append(row)
    reference = metrics.get("reference", next(iter(models)))
    ratio_header = [
        "model",
        "accuracy Δ (points)",
        "faster at p50",
        "throughput ×",
        "fewer parameters",
        "fewer MACs",
        "smaller file",
    ]
    ratio_rows = []
    for name, m in models.items():
        r = m.get("ratios", {})
        delta = r.get("accuracy_delta_points")
        ratio_rows.append(
            [
                f"`{name}`",
                "—" if delta is None else f"{delta:+.2f}",
                _ratio(r.get("latency_speedup")),
                _ratio(r.get("throughput_ratio")),
                _ratio(r.get("params_ratio")),
                _ratio(r.get("macs_ratio")),
                _ratio(r.get("size_ratio")),
            ]
        )
    counts = metrics.get("thread_counts") or [metrics.get("threads")]
    batches = metrics.get("batch_sizes")
    setup = (
        f"onnxruntime {', '.join(metrics.get('providers', []))}, intra-op threads: "
        f"{', '.join(_threads(t) for t in counts)}"
        + (f"; batch sizes {', '.join(str(b) for b in batches)}" if batches else "")
        + f"; {metrics.get('split', 'test')} split. Headline figures use the first thread count."
    )
    lines = [f"## Benchmark (`{stage}`)", "", setup, ""]
    if metrics.get("limits"):
        lines += [limits_line(metrics), ""]
    lines += [*_table(header, rows), ""]
    lines += [f"Ratios against `{reference}`:", "", *_table(ratio_header, ratio_rows), ""]
    int8 = int8_lines(metrics)
    if int8:
        lines += ["INT8 next to FP32:", "", *int8, ""]
    for plot in plots or []:
        lines += [f"![{Path(plot).stem.replace('_', ' ')}]({plot})", ""]
    lines += grid_section(models)
    return lines


def stages_section(stages: dict[str, Any]) -> list[str]:
    """One row per stage: type, time, and its headline figures."""
    rows = []
    for name, m in stages.items():
        facts = []
        if "test_accuracy" in m:
            facts.append(f"test accuracy {_pct(m['test_accuracy'])} (PyTorch)")
        if "params" in m:
            facts.append(f"{format_count(m['params'])} parameters")
        if "before" in m and "pruned" in m:
            b, p = m["before"], m["pruned"]
            facts.append(
                f"params {format_count(b['params'])} → {format_count(p['params'])}, MACs {format_count(b['macs'])} → "
                f"{format_count(p['macs'])}; val accuracy {_pct(b['val_accuracy'])} → "
                f"{_pct(p['val_accuracy'])} pruned → {_pct(m.get('val_accuracy'))} fine-tuned"
            )
        if "samples_per_second" in m:
            cached = " (teacher outputs cached)" if m.get("teacher_cached") else ""
            facts.append(f"{m['samples_per_second']:,.0f} samples/s{cached}")
        for file, f in m.get("files", {}).items():
            if "int8_accuracy" in f:
                facts.append(
                    f"`{file}` ({f.get('mode')} INT8): {_ratio(f.get('size_ratio'))} smaller, "
                    f"accuracy {_pct(f.get('fp32_accuracy'))} → {_pct(f.get('int8_accuracy'))} "
                    f"({f.get('accuracy_delta_points', 0):+.2f} points)"
                )
                continue
            extras = []
            if (f.get("input") or {}).get("embedded_preprocessing"):
                extras.append(f"takes {f['input'].get('range', 'raw pixels')}")
            if f.get("slim"):
                extras.append(
                    f"onnxslim {f['slim']['nodes_before']} → {f['slim']['nodes_after']} nodes"
                )
            facts.append(
                f"`{file}` via {f.get('method', f.get('exporter', '?'))}: max abs error "
                f"{f.get('max_abs_error', float('nan')):.2e}, top-1 agreement "
                f"{_pct(f.get('top1_agreement'))}" + "".join(f"; {e}" for e in extras)
            )
        if "models" in m and m.get("type") == "benchmark":
            facts.append(f"{len(m['models'])} models against `{m.get('reference')}`")
        if "error" in m:
            facts.append(f"**failed:** {m['error']}")
        time_cell = f"{m.get('seconds', 0):.1f} s"
        if m.get("cached"):
            time_cell += f" (from cache; {m.get('original_seconds') or 0:.1f} s when run)"
        elif m.get("resumed"):
            time_cell += " (completed before the run was resumed)"
        rows.append([f"`{name}`", m.get("type", ""), time_cell, "; ".join(facts)])
    return ["## Stages", "", *_table(["stage", "type", "time", "result"], rows), ""]


def render(metrics: dict[str, Any], plots: dict[str, list[str]] | None = None) -> str:
    """The whole report as Markdown.

    Args:
        metrics: The run's ``metrics.json``.
        plots: Section -> PNG file names relative to the run folder (see
            :func:`compressor.report.plots.write_plots`): a benchmark stage's name, or
            ``training``.
    """
    plots = plots or {}
    data = metrics.get("data", {})
    versions = metrics.get("versions", {})
    stages = metrics.get("stages", {})
    hashes = {m["recipe_hash"] for m in stages.values() if m.get("recipe_hash")}
    lines = [
        f"# compressor run: `{metrics.get('recipe', '?')}`",
        "",
        f"Status **{metrics.get('status', '?')}** in {metrics.get('seconds', 0):.1f} s on "
        f"`{metrics.get('device', '?')}`, seed {metrics.get('seed', '?')}. Dataset "
        f"`{data.get('dataset', '?')}` {data.get('sizes', {})}. "
        + ", ".join(f"{k} {v}" for k, v in versions.items())
        + "."
        + (f" Recipe hash `{', '.join(sorted(hashes))}`." if hashes else ""),
        "",
    ]
    for name, m in stages.items():
        if m.get("type") == "benchmark":
            lines += benchmark_section(name, m, plots.get(name))
    if plots.get("training"):
        lines += ["## Training curves", ""]
        lines += [f"![training curves]({p})" for p in plots["training"]] + [""]
    lines += stages_section(stages)
    return "\n".join(lines)


def write_report(run_dir: Path, metrics: dict[str, Any]) -> Path:
    """Write ``report.md``, its PNG plots and a self-contained ``report.html`` into ``run_dir``.

    Everything is drawn from ``metrics`` alone (``compressor report RUN_DIR`` rebuilds it from
    ``metrics.json``), and every file is written atomically.

    Returns:
        The path of ``report.md``.
    """
    from compressor.report.html import markdown_to_html
    from compressor.report.plots import write_plots

    run_dir = Path(run_dir)
    drawn = write_plots(run_dir, metrics)
    plots = {section: [p.name for p in files] for section, files in drawn.items()}
    text = render(metrics, plots)
    path = write_text(run_dir / "report.md", text)
    title = f"compressor run: {metrics.get('recipe', '?')}"
    write_text(run_dir / "report.html", markdown_to_html(text, run_dir, title))
    return path
