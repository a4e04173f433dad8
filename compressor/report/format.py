"""How figures are written for people: counts, bytes, percentages, ratios, milliseconds,
rates, errors, points, seconds, round spreads, the machine's limits, and the Markdown tables
they go in.

Every formatter writes ``—`` for a figure that is unknown (``None``). Thread counts are written
by :func:`compressor.bench.timing.thread_label`, the same text as the metrics keys; the
threshold of :func:`format_spread` is :data:`compressor.bench.timing.UNSTABLE_SPREAD`. Nothing
here imports numpy, so the console can use these before any measuring module loads.
"""

from __future__ import annotations

from typing import Any

from compressor.bench.timing import UNSTABLE_SPREAD

#: What an unknown figure is written as.
MISSING = "—"


def format_count(
    value: float | None, unit: str = "", *, digits: int = 2, space: bool = True
) -> str:
    """A count with a k/M/G prefix: ``5.11 M``, ``12.3 kB``, ``640``.

    Args:
        value: The count.
        unit: Written after the prefix (``B``, ``FLOP``); none by default.
        digits: Decimals of a prefixed count (none below a thousand).
        space: A space between the number and the prefix or unit.

    Returns:
        The text, or ``—`` for ``None``.
    """
    if value is None:
        return MISSING
    sep = " " if space else ""
    for factor, prefix in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if abs(value) >= factor:
            return f"{value / factor:.{digits}f}{sep}{prefix}{unit}".rstrip()
    return f"{value:.0f}{sep}{unit}".rstrip()


def compact_count(value: float | None, unit: str = "") -> str:
    """A count as the console summary writes it, one decimal and no space: ``5.1M``, ``21.2kB``.

    Args:
        value: The count.
        unit: Written after the prefix.

    Returns:
        The text, or ``—`` for ``None``.
    """
    return format_count(value, unit, digits=1, space=False)


def format_bytes(value: float | None) -> str:
    """A size in binary units: ``2.1 MiB``, ``20.7 KiB``, ``512 B``.

    Args:
        value: Bytes.

    Returns:
        The text, or ``—`` for ``None``.
    """
    if value is None:
        return MISSING
    for factor, unit in ((1 << 20, "MiB"), (1 << 10, "KiB")):
        if value >= factor:
            return f"{value / factor:.1f} {unit}"
    return f"{value:.0f} B"


def format_percent(value: float | None) -> str:
    """A fraction as a percentage with two decimals: ``0.9833`` -> ``98.33%``.

    Args:
        value: The fraction (0..1 for an accuracy).

    Returns:
        The text, or ``—`` for ``None``.
    """
    return MISSING if value is None else f"{100 * value:.2f}%"


def format_ratio(value: float | None) -> str:
    """A ratio or a multiple with one decimal: ``3.9×`` (smaller, faster, times the floor).

    Args:
        value: The ratio.

    Returns:
        The text, or ``—`` for ``None``.
    """
    return MISSING if value is None else f"{value:.1f}×"


def format_ms(value: float | None) -> str:
    """Milliseconds; microseconds below 0.1 ms, where three decimals of a ms say too little.

    Args:
        value: Milliseconds.

    Returns:
        ``10.0 µs`` or ``0.103 ms``, or ``—`` for ``None``.
    """
    if value is None:
        return MISSING
    return f"{1000 * value:.1f} µs" if value < 0.1 else f"{value:.3f} ms"


def format_per_s(value: float | None) -> str:
    """A rate in samples per second: ``7,904 /s``.

    Args:
        value: Samples per second.

    Returns:
        The text, or ``—`` for ``None``.
    """
    return MISSING if value is None else f"{value:,.0f} /s"


def format_error(value: float | None) -> str:
    """A small error in scientific notation with two decimals: ``1.19e-07``.

    Args:
        value: The error (an exporter's ``max_abs_error``).

    Returns:
        The text, or ``—`` for ``None``.
    """
    return MISSING if value is None else f"{value:.2e}"


def format_points(value: float | None) -> str:
    """A change in percentage points, signed, with two decimals: ``-0.10``.

    Args:
        value: The change (an accuracy delta in points).

    Returns:
        The text, or ``—`` for ``None``.
    """
    return MISSING if value is None else f"{value:+.2f}"


def format_seconds(value: float | None) -> str:
    """Seconds with one decimal: ``12.3 s``.

    Args:
        value: Seconds.

    Returns:
        The text, or ``—`` for ``None``.
    """
    return MISSING if value is None else f"{value:.1f} s"


def format_spread(value: float | None) -> str:
    """A cell's round spread as a percentage, flagged ⚠ above ``UNSTABLE_SPREAD``.

    Args:
        value: ``max / min - 1`` of the cell's round medians.

    Returns:
        ``3%`` or ``42% ⚠``, or ``—`` for ``None``.
    """
    if value is None:
        return MISSING
    flag = " ⚠" if value > UNSTABLE_SPREAD else ""
    return f"{100 * value:.0f}%{flag}"


def format_limits(label: str, limits: dict[str, Any]) -> str:
    """The machine's limits at one thread count, as a phrase.

    Args:
        label: The thread count as the metrics key it is (``1``, ``default``).
        limits: ``floor_ms`` and ``matmul_gflops``.

    Returns:
        ``1 thread(s): per-call floor 4.7 µs, MatMul peak 113 GFLOP/s``.
    """
    return (
        f"{label} thread(s): per-call floor {1000 * limits['floor_ms']:.1f} µs, "
        f"MatMul peak {limits['matmul_gflops']:.0f} GFLOP/s"
    )


def table_cell(text: str) -> str:
    """``text`` made safe for one cell of a pipe table.

    A ``|`` would end the cell and a line break the row, so a stage's error message could
    reshape the table: ``|`` is written ``\\|`` (which Markdown shows as ``|``, inside code spans
    too) and each line break as ``<br>``.

    Example:
        >>> table_cell("a | b\\nc")
        'a \\\\| b<br>c'
    """
    return "<br>".join(text.replace("|", "\\|").splitlines())


def markdown_table(header: list[str], rows: list[list[str]]) -> list[str]:
    """A pipe table, each cell made safe by :func:`table_cell`.

    Args:
        header: Column titles.
        rows: Cells, as text, one list per row.

    Returns:
        The table's lines.
    """

    def line(cells: list[str]) -> str:
        return "| " + " | ".join(table_cell(c) for c in cells) + " |"

    return [line(header), "|" + "|".join("---" for _ in header) + "|", *map(line, rows)]
