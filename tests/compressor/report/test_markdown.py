"""compressor.report.markdown: the tables, the machine's limits, the INT8 statement, round spreads."""

from __future__ import annotations

import copy

import pytest

from compressor.report import render
from tests.compressor.report.conftest import METRICS


def test_markdown_says_int8_is_slower_and_shows_limits() -> None:
    text = render(METRICS)
    assert "**1.5× slower** at batch 1" in text and "1.2× faster at batch 64" in text
    assert "`student.int8.onnx` (INT8)" in text and "3.9× smaller file" in text
    assert "per-call floor 5.0 µs, MatMul peak 90 GFLOP/s" in text
    assert "| `student.onnx` | 95.00% | 10.0 µs |" in text
    assert "Recipe hash `feedc0ffee123456`" in text
    assert "(dynamic INT8): 3.9× smaller, accuracy 95.00% → 94.90% (-0.10 points)" in text
    assert "takes raw pixels, uint8 0..255" in text


@pytest.mark.parametrize("missing", ["limits", "int8", "grid"])
def test_older_metrics_still_render(missing) -> None:
    metrics = copy.deepcopy(METRICS)
    bench = metrics["stages"]["benchmark"]
    bench.pop(missing, None)
    for m in bench["models"].values():
        m.pop(missing, None)
    assert "## Benchmark" in render(metrics)


def test_cells_whose_rounds_disagree_are_flagged() -> None:
    metrics = copy.deepcopy(METRICS)
    grid = metrics["stages"]["benchmark"]["models"]["student.onnx"]["grid"]
    grid[0]["round_spread"], grid[1]["round_spread"] = 0.03, 0.42
    text = render(metrics)
    assert "| 3% |" in text and "| 42% ⚠ |" in text
    assert "disagree by more than 10% on the median" in text
    assert "disagree by more than" not in render(METRICS)  # older metrics: no column value, no flag
