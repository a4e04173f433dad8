"""``report.md`` as text: the run's header, each benchmark stage's tables, the training curves,
and one row per stage."""

from __future__ import annotations

from typing import Any

from compressor.report.benchmark import benchmark_section
from compressor.report.format import (
    MISSING,
    format_count,
    format_error,
    format_percent,
    format_points,
    format_ratio,
    format_seconds,
    markdown_table,
)
from compressor.report.metric import Headline, run_headline

#: What the report reads from the facts an exporter returns (``ExporterPlugin``'s ``export``),
#: documented in docs/plugins/hooks.md. A key left out is written ``—``.
EXPORTER_FACTS = ("method", "exporter", "max_abs_error", "top1_agreement", "input", "slim")


def _export_facts(file: str, f: dict[str, Any]) -> str:
    """What an export stage says of one file it wrote, from its exporter's facts."""
    label = f.get("method") or f.get("exporter")
    extras = []
    if (f.get("input") or {}).get("embedded_preprocessing"):
        extras.append(f"takes {f['input'].get('range', 'raw pixels')}")
    if f.get("slim"):
        slim = f["slim"]
        before, after = (slim.get(k, MISSING) for k in ("nodes_before", "nodes_after"))
        extras.append(f"onnxslim {before} → {after} nodes")
    return (
        f"`{file}`" + (f" via {label}" if label else "") + ": max abs error "
        f"{format_error(f.get('max_abs_error'))}, top-1 agreement "
        f"{format_percent(f.get('top1_agreement'))}" + "".join(f"; {e}" for e in extras)
    )


def _file_facts(file: str, f: dict[str, Any], metric: Headline) -> str:
    """What an export or quantize stage says of one file it wrote.

    A quantize stage in ``mode: auto`` says which candidate it kept and why; when it kept
    FP32, the file is the FP32 graph and the line says so rather than call it INT8.
    """
    # A choice made on the test split leaves its test figures optimistic: say so.
    on_test = (
        "; **chosen on the test split** (`split: test`): these test figures are not held out"
        if f.get("chosen_on") == "test"
        else ""
    )
    if f.get("kept") == "fp32":
        return (
            f"`{file}` (auto): {f.get('reason', 'kept FP32')}; the file is the FP32 graph{on_test}"
        )
    key = metric.key
    if f"int8_{key}" in f:
        label = f"auto: {f['kept']}" if f.get("kept") else f.get("mode")
        reason = f"; {f['reason']}" if f.get("reason") else ""
        return (
            f"`{file}` ({label} INT8): {format_ratio(f.get('size_ratio'))} smaller, "
            f"{f.get('split', 'test')} {metric.label} {format_percent(f.get(f'fp32_{key}'))} → "
            f"{format_percent(f.get(f'int8_{key}'))} "
            f"({format_points(f.get(f'{key}_delta_points'))} points){reason}{on_test}"
        )
    return _export_facts(file, f)


def _stage_facts(m: dict[str, Any], metric: Headline) -> list[str]:
    """A stage's headline figures, as phrases."""
    facts = []
    test, val = f"test_{metric.key}", f"val_{metric.key}"
    if test in m:
        facts.append(f"test {metric.label} {format_percent(m[test])} (PyTorch)")
    if "params" in m:
        facts.append(f"{format_count(m['params'])} parameters")
    if "before" in m and "pruned" in m:
        b, p = m["before"], m["pruned"]
        facts.append(
            f"params {format_count(b.get('params'))} → {format_count(p.get('params'))}, "
            f"MACs {format_count(b.get('macs'))} → {format_count(p.get('macs'))}; "
            f"val {metric.label} {format_percent(b.get(val))} → "
            f"{format_percent(p.get(val))} pruned → "
            f"{format_percent(m.get(val))} fine-tuned"
        )
    overlap = m.get("transfer_overlap")
    if overlap and overlap.get("acknowledged"):
        rows = ", ".join(
            f"{overlap[f'{name}_rows']} {label} rows"
            for name, label in (("val", "validation"), ("test", "test"))
            if overlap.get(f"{name}_rows") is not None
        )
        facts.append(
            "**transfer data overlaps the held-out rows** (acknowledged"
            + (f"; {rows}" if rows else "; checked by dataset name only")
            + "): the student learnt the teacher's answers on them; its figures are not held out"
        )
    if "samples_per_second" in m:
        cached = " (teacher outputs cached)" if m.get("teacher_cached") else ""
        facts.append(f"{m['samples_per_second']:,.0f} samples/s{cached}")
    facts += [_file_facts(file, f, metric) for file, f in m.get("files", {}).items()]
    if "models" in m and m.get("type") == "benchmark":
        facts.append(f"{len(m['models'])} models against `{m.get('reference')}`")
    if m.get("verdict"):
        facts.append(f"budget not met: {m['verdict']}")
    if "error" in m:
        facts.append(f"**failed:** {m['error']}")
    return facts


def stages_section(stages: dict[str, Any], metric: Headline | None = None) -> list[str]:
    """One row per stage: type, time, and its headline figures.

    Args:
        stages: The run's metrics per stage.
        metric: The run's headline metric (default: accuracy).

    Returns:
        The section's lines.
    """
    rows = []
    for name, m in stages.items():
        time_cell = format_seconds(m.get("seconds"))
        if m.get("cached"):
            time_cell += f" (from cache; {format_seconds(m.get('original_seconds'))} when run)"
        elif m.get("resumed"):
            time_cell += " (completed before the run was resumed)"
        facts = "; ".join(_stage_facts(m, metric or Headline()))
        rows.append([f"`{name}`", m.get("type", ""), time_cell, facts])
    return ["## Stages", "", *markdown_table(["stage", "type", "time", "result"], rows), ""]


def render(metrics: dict[str, Any], plots: dict[str, list[str]] | None = None) -> str:
    """The whole report as Markdown.

    Args:
        metrics: The run's ``metrics.json``.
        plots: Section -> PNG file names relative to the run folder (see
            :func:`compressor.report.plots.write_plots`): a benchmark stage's name, or
            ``training``.

    Returns:
        The text of ``report.md``.
    """
    plots = plots or {}
    data = metrics.get("data", {})
    versions = metrics.get("versions", {})
    stages = metrics.get("stages", {})
    hashes = {m["recipe_hash"] for m in stages.values() if m.get("recipe_hash")}
    lines = [
        f"# compressor run: `{metrics.get('recipe', '?')}`",
        "",
        f"Status **{metrics.get('status', '?')}** in {format_seconds(metrics.get('seconds'))} on "
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
        elif isinstance(m.get("report_markdown"), list):
            # A stage that writes its own section (the budget search: its front and plot).
            lines += [str(line) for line in m["report_markdown"]]
    if plots.get("training"):
        lines += ["## Training curves", ""]
        lines += [f"![training curves]({p})" for p in plots["training"]] + [""]
    lines += stages_section(stages, run_headline(metrics))
    return "\n".join(lines)
