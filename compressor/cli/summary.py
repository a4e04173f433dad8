"""The table ``compressor run`` ends with: every benchmarked file against the reference."""

from __future__ import annotations

from typing import Any

from compressor.report.format import compact_count
from compressor.report.metric import stage_headline

#: The summary's columns; with no padding they fit an 80-column terminal. ``{metric}`` is the
#: task's metric, short: ``acc`` for accuracy, else its key (``map``).
COLUMNS = (
    "model",
    "{metric}",
    "p50 ms",
    "per s",
    "params",
    "size",
    "Δ {metric}",
    "faster",
    "smaller",
)


def short_name(key: str) -> str:
    """A metric's column name: ``acc`` for accuracy (as the table always said), else its key."""
    return "acc" if key == "accuracy" else key


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
        key = stage_headline(stage).key
        for column in COLUMNS:
            table.add_column(
                column.format(metric=short_name(key)),
                justify="left" if column == "model" else "right",
                no_wrap=True,
            )
        for model, m in models.items():
            r = m.get("ratios", {})
            value = m.get(key)
            table.add_row(
                model,
                "—" if value is None else f"{100 * value:.2f}%",
                f"{m['latency_ms']['p50']:.3f}",
                compact_count(m.get("throughput_per_s")),
                compact_count(m.get("params")),
                compact_count(m.get("file_bytes"), "B"),
                f"{r.get(f'{key}_delta_points') or 0:+.2f}",
                f"{r.get('latency_speedup', 1):.1f}×",
                f"{r.get('size_ratio', 1):.1f}×",
            )
        console.print(table)
