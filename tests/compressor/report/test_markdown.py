"""compressor.report.markdown: the tables, the machine's limits, the INT8 statement, round spreads."""

from __future__ import annotations

import copy
import re

import pytest

from compressor.report import render
from compressor.report.html import markdown_to_html
from tests.compressor.report.conftest import METRICS


def test_markdown_says_int8_is_slower_and_shows_limits() -> None:
    text = render(METRICS)
    assert "**1.5× slower** at batch 1" in text and "1.2× faster at batch 64" in text
    assert "`student.int8.onnx` (INT8)" in text and "3.9× smaller file" in text
    assert "per-call floor 5.0 µs, MatMul peak 90 GFLOP/s" in text
    assert "| `student.onnx` | 95.00% | 10.0 µs |" in text
    assert "Recipe hash `feedc0ffee123456`" in text
    assert "(dynamic INT8): 3.9× smaller, test accuracy 95.00% → 94.90% (-0.10 points)" in text
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


def _stage_rows(text: str) -> list[str]:
    table = text.split("## Stages", 1)[1].strip().splitlines()
    return [line for line in table[2:] if line.startswith("|")]


def test_a_stage_error_with_a_pipe_and_a_newline_keeps_the_table(tmp_path) -> None:
    metrics = copy.deepcopy(METRICS)
    metrics["stages"]["export"]["error"] = "parity | failed:\nmax |diff| 3.0 > `a | b`"
    text = render(metrics)
    rows = _stage_rows(text)
    assert len(rows) == len(metrics["stages"])  # no row split in two
    assert all(len(re.findall(r"(?<!\\)\|", row)) == 5 for row in rows)  # four cells each
    page = markdown_to_html(text, tmp_path, "t")
    stages_table = page.split("<h2>Stages</h2>", 1)[1]
    (export_row,) = [r for r in stages_table.split("</tr>") if "<code>export</code>" in r]
    assert export_row.count("<td") == 4
    assert "parity | failed:<br />\nmax |diff| 3.0 &gt; <code>a | b</code>" in export_row


def test_a_third_party_exporter_without_parity_figures_shows_dashes() -> None:
    metrics = copy.deepcopy(METRICS)
    metrics["stages"]["export"]["files"] = {"student.bin": {"params": 10}}
    metrics["stages"]["quantize"]["files"]["student.int8.onnx"].pop("accuracy_delta_points")
    text = render(metrics)
    assert "nan" not in text
    assert "`student.bin`: max abs error —, top-1 agreement —" in text
    assert "test accuracy 95.00% → 94.90% (— points)" in text


def test_a_quantize_stage_that_chose_on_the_test_split_says_so() -> None:
    metrics = copy.deepcopy(METRICS)
    file = metrics["stages"]["quantize"]["files"]["student.int8.onnx"]
    assert "chosen on the test split" not in render(metrics)
    file["chosen_on"] = "test"
    assert (
        "(-0.10 points); **chosen on the test split** (`split: test`): these test figures are "
        "not held out" in render(metrics)
    )
