"""The table ``compressor run`` ends with: every benchmarked file against the reference."""

from __future__ import annotations

from typing import Any

from compressor.report.format import compact_count

#: The summary's columns; with no padding they fit an 80-column terminal.
COLUMNS = ("model", "acc", "p50 ms", "per s", "params", "size", "Δ acc", "faster", "smaller")


def print_summary(console: Any, metrics: dict[str, Any]) -> None:
    """Print one table per benchmark stage of ``metrics`` (a run's metrics.json) on ``console``."""
    from rich import box
    from rich.table import Table

    for name, stage in metrics.get("stages", {}).items():
        models = stage.get("models") if stage.get("type") == "benchmark" else None
        if not models:
            continue
        table = Table(
            title=f"{name}: onnxruntime, ratios vs {stage.get('reference')}",
            title_justify="left",
            box=box.SIMPLE_HEAD,
            pad_edge=False,
            show_edge=False,
            # The box draws a space between columns already: no padding, so that
            # `student.int8.onnx` and an 800 kB size still fit in 80 columns.
            padding=(0, 0, 0, 0),
        )
        for column in COLUMNS:
            table.add_column(column, justify="left" if column == "model" else "right", no_wrap=True)
        for model, m in models.items():
            r = m.get("ratios", {})
            table.add_row(
                model,
                f"{100 * m['accuracy']:.2f}%",
                f"{m['latency_ms']['p50']:.3f}",
                compact_count(m.get("throughput_per_s")),
                compact_count(m.get("params")),
                compact_count(m.get("file_bytes"), "B"),
                f"{r.get('accuracy_delta_points', 0):+.2f}",
                f"{r.get('latency_speedup', 1):.1f}×",
                f"{r.get('size_ratio', 1):.1f}×",
            )
        console.print(table)
