"""compressor.report.format: every figure written one way, ``—`` when unknown."""

from __future__ import annotations

import re

import pytest

from compressor.bench.timing import UNSTABLE_SPREAD, thread_label
from compressor.report.format import (
    compact_count,
    format_bytes,
    format_count,
    format_error,
    format_limits,
    format_ms,
    format_per_s,
    format_percent,
    format_points,
    format_ratio,
    format_seconds,
    format_spread,
    markdown_table,
    table_cell,
)

FORMATTERS = [
    format_count,
    compact_count,
    format_bytes,
    format_percent,
    format_ratio,
    format_ms,
    format_per_s,
    format_spread,
    format_error,
    format_points,
    format_seconds,
]


@pytest.mark.parametrize("formatter", FORMATTERS, ids=lambda f: f.__name__)
def test_an_unknown_figure_is_a_dash(formatter) -> None:
    assert formatter(None) == "—"


def test_counts_get_a_prefix() -> None:
    assert format_count(5_110_000) == "5.11 M" and format_count(561_800) == "561.80 k"
    assert format_count(2_500_000_000, "FLOP") == "2.50 GFLOP"
    assert format_count(640) == "640" and format_count(640, "B") == "640 B"
    assert format_count(-4_800) == "-4.80 k"


def test_compact_counts_fit_a_console_column() -> None:
    # As the run's console summary writes them: one decimal, no space.
    assert compact_count(5_110_000) == "5.1M" and compact_count(7_904) == "7.9k"
    assert compact_count(21_200, "B") == "21.2kB" and compact_count(640, "B") == "640B"
    assert compact_count(12) == "12"
    assert format_count(5_110_000, digits=1, space=False) == compact_count(5_110_000)


def test_bytes_are_binary() -> None:
    assert format_bytes(2.1 * (1 << 20)) == "2.1 MiB" and format_bytes(21_200) == "20.7 KiB"
    assert format_bytes(512) == "512 B"


def test_percentages_ratios_and_rates() -> None:
    assert format_percent(0.98333) == "98.33%" and format_percent(0) == "0.00%"
    assert format_ratio(3.85) == "3.9×" and format_ratio(0.667) == "0.7×"
    assert format_per_s(7_904.4) == "7,904 /s"


def test_milliseconds_turn_to_microseconds_below_a_tenth() -> None:
    assert format_ms(0.103) == "0.103 ms" and format_ms(0.1) == "0.100 ms"
    assert format_ms(0.0061) == "6.1 µs"


def test_spreads_above_the_threshold_are_flagged() -> None:
    assert format_spread(0.03) == "3%" and format_spread(0.42) == "42% ⚠"
    assert format_spread(UNSTABLE_SPREAD) == "10%"  # at the threshold: not yet unstable


def test_threads_are_written_as_the_metrics_keys() -> None:
    assert thread_label(None) == "default" and thread_label(1) == "1"
    assert format_limits(thread_label(None), {"floor_ms": 0.0047, "matmul_gflops": 112.6}) == (
        "default thread(s): per-call floor 4.7 µs, MatMul peak 113 GFLOP/s"
    )


def test_markdown_table() -> None:
    assert markdown_table(["a", "b"], [["1", "2"]]) == ["| a | b |", "|---|---|", "| 1 | 2 |"]


def test_errors_points_and_seconds() -> None:
    assert format_error(1.19e-7) == "1.19e-07" and format_error(0.0) == "0.00e+00"
    assert format_points(-0.1) == "-0.10" and format_points(0.0) == "+0.00"
    assert format_seconds(12.34) == "12.3 s"


def test_a_cell_cannot_break_the_table() -> None:
    error = "stage failed: expected a | b\ngot c"
    assert table_cell(error) == "stage failed: expected a \\| b<br>got c"
    header, rule, row = markdown_table(["stage", "result"], [["`x | y`", error]])
    assert header == "| stage | result |" and rule == "|---|---|"
    # Two cells: the row has three unescaped pipes, the delimiters, and no line break.
    assert len(re.findall(r"(?<!\\)\|", row)) == 3 and "\n" not in row
