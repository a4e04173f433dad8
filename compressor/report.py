"""``report.md``: the run's figures as tables people can read.

Built only from ``metrics.json``, so a report can be rebuilt from a finished run folder.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from compressor.atomic import write_text


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


def benchmark_section(stage: str, metrics: dict[str, Any]) -> list[str]:
    """The side-by-side table of a benchmark stage."""
    models: dict[str, Any] = metrics.get("models", {})
    if not models:
        return []
    first = next(iter(models.values()))
    lat_b, thr_b = first.get("latency_batch", 1), first.get("throughput_batch", "?")
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
    rows = []
    for name, m in models.items():
        lat = m.get("latency_ms", {})
        rows.append(
            [
                f"`{name}`",
                _pct(m.get("accuracy")),
                f"{lat.get('p50', float('nan')):.3f} ms",
                f"{lat.get('p95', float('nan')):.3f} ms",
                f"{m.get('throughput_per_s', 0):,.0f} /s",
                format_count(m.get("params")),
                format_count(m.get("macs")),
                format_bytes(m.get("file_bytes")),
            ]
        )
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
    threads = metrics.get("threads")
    return [
        f"## Benchmark (`{stage}`)",
        "",
        f"onnxruntime {', '.join(metrics.get('providers', []))}, "
        f"intra-op threads: {threads if threads else 'default'}.",
        "",
        *_table(header, rows),
        "",
        f"Ratios against `{reference}`:",
        "",
        *_table(ratio_header, ratio_rows),
        "",
    ]


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
            facts.append(
                f"`{file}` via {f.get('method', f.get('exporter', '?'))}: max abs error "
                f"{f.get('max_abs_error', float('nan')):.2e}, top-1 agreement "
                f"{_pct(f.get('top1_agreement'))}"
            )
        if "models" in m and m.get("type") == "benchmark":
            facts.append(f"{len(m['models'])} models against `{m.get('reference')}`")
        if "error" in m:
            facts.append(f"**failed:** {m['error']}")
        rows.append([f"`{name}`", m.get("type", ""), f"{m.get('seconds', 0):.1f} s", "; ".join(facts)])
    return ["## Stages", "", *_table(["stage", "type", "time", "result"], rows), ""]


def render(metrics: dict[str, Any]) -> str:
    """The whole report as Markdown."""
    data = metrics.get("data", {})
    versions = metrics.get("versions", {})
    lines = [
        f"# compressor run: `{metrics.get('recipe', '?')}`",
        "",
        f"Status **{metrics.get('status', '?')}** in {metrics.get('seconds', 0):.1f} s on "
        f"`{metrics.get('device', '?')}`, seed {metrics.get('seed', '?')}. Dataset "
        f"`{data.get('dataset', '?')}` {data.get('sizes', {})}. "
        + ", ".join(f"{k} {v}" for k, v in versions.items())
        + ".",
        "",
    ]
    stages = metrics.get("stages", {})
    for name, m in stages.items():
        if m.get("type") == "benchmark":
            lines += benchmark_section(name, m)
    lines += stages_section(stages)
    return "\n".join(lines)


def write_report(run_dir: Path, metrics: dict[str, Any]) -> Path:
    """Write ``report.md`` into ``run_dir`` atomically."""
    return write_text(Path(run_dir) / "report.md", render(metrics))
