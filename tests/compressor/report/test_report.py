"""compressor.report: tables, the INT8 statement, plots and a self-contained report.html."""

from __future__ import annotations

import copy
import json
import re

import pytest

from compressor import cli
from compressor.report import render, write_report
from compressor.report.html import markdown_to_html
from compressor.report.plots import pareto_front


def _model(acc: float, p50: float, size: int, precision: str = "fp32", **extra) -> dict:
    grid = [
        {
            "provider": "cpu",
            "threads": 1,
            "batch": 1,
            "p50": p50,
            "p90": p50,
            "p95": p50,
            "p99": p50,
            "mean": p50,
            "min": p50,
            "runs": 10,
            "throughput_per_s": 1000 / p50,
        },
        {
            "provider": "cpu",
            "threads": 1,
            "batch": 64,
            "p50": 20 * p50,
            "p90": 20 * p50,
            "p95": 20 * p50,
            "p99": 20 * p50,
            "mean": 20 * p50,
            "min": 20 * p50,
            "runs": 10,
            "throughput_per_s": 64000 / (20 * p50),
        },
    ]
    return {
        "accuracy": acc,
        "precision": precision,
        "latency_batch": 1,
        "throughput_batch": 64,
        "latency_ms": {"p50": p50, "p90": p50, "p95": p50, "p99": p50, "mean": p50},
        "throughput_per_s": 64000 / (20 * p50),
        "file_bytes": size,
        "params": size / 4,
        "macs": size,
        "grid": grid,
        "limits": {"latency_vs_floor": p50 / 0.005, "gflops": 10.0, "peak_fraction": 0.1},
        "ratios": {"latency_speedup": 1.0, "size_ratio": 1.0, "accuracy_delta_points": 0.0},
        **extra,
    }


METRICS = {
    "recipe": "tiny",
    "status": "completed",
    "seconds": 12.0,
    "device": "cpu",
    "seed": 0,
    "versions": {"compressor": "0.1.0"},
    "data": {"dataset": "digits", "sizes": {"train": 10}},
    "stages": {
        "teacher": {
            "type": "train",
            "seconds": 1.0,
            "test_accuracy": 0.9,
            "history": [
                {"epoch": 1, "loss": 1.0, "val_accuracy": 0.5, "seconds": 0.1},
                {"epoch": 2, "loss": 0.5, "val_accuracy": 0.8, "seconds": 0.1},
            ],
        },
        "export": {
            "type": "export",
            "seconds": 1.0,
            "recipe_hash": "feedc0ffee123456",
            "files": {
                "student.onnx": {
                    "method": "dynamo",
                    "max_abs_error": 1e-7,
                    "top1_agreement": 1.0,
                    "input": {"embedded_preprocessing": True, "range": "raw pixels, uint8 0..255"},
                }
            },
        },
        "quantize": {
            "type": "quantize",
            "seconds": 0.1,
            "files": {
                "student.int8.onnx": {
                    "mode": "dynamic",
                    "size_ratio": 3.9,
                    "fp32_accuracy": 0.95,
                    "int8_accuracy": 0.949,
                    "accuracy_delta_points": -0.1,
                }
            },
        },
        "benchmark": {
            "type": "benchmark",
            "seconds": 2.0,
            "reference": "teacher.onnx",
            "split": "test",
            "providers": ["CPUExecutionProvider"],
            "thread_counts": [1],
            "batch_sizes": [1, 64],
            "limits": {"1": {"floor_ms": 0.005, "matmul_gflops": 90.0}},
            "peak_matmul": [256, 512, 512],
            "models": {
                "teacher.onnx": _model(0.97, 0.2, 400_000),
                "student.onnx": _model(0.95, 0.01, 100_000, torch_latency_ms=0.03),
                "student.int8.onnx": _model(
                    0.949, 0.015, 26_000, "int8", quantized_from="student.onnx"
                ),
            },
            "int8": [
                {
                    "int8": "student.int8.onnx",
                    "fp32": "student.onnx",
                    "quantization": "dynamic",
                    "size_ratio": 3.85,
                    "accuracy_delta_points": -0.1,
                    "latency_batch": 1,
                    "latency_speedup": 0.667,
                    "throughput_batch": 64,
                    "throughput_ratio": 1.2,
                    "slower": True,
                    "slower_at_throughput": False,
                }
            ],
        },
    },
}


def test_markdown_says_int8_is_slower_and_shows_limits() -> None:
    text = render(METRICS)
    assert "**1.5× slower** at batch 1" in text and "1.2× faster at batch 64" in text
    assert "`student.int8.onnx` (INT8)" in text and "3.9× smaller file" in text
    assert "per-call floor 5.0 µs, MatMul peak 90 GFLOP/s" in text
    assert "| `student.onnx` | 95.00% | 10.0 µs |" in text
    assert "Recipe hash `feedc0ffee123456`" in text
    assert "(dynamic INT8): 3.9× smaller, accuracy 95.00% → 94.90% (-0.10 points)" in text
    assert "takes raw pixels, uint8 0..255" in text


def test_pareto_front() -> None:
    points = {"a": (1.0, 0.90), "b": (2.0, 0.95), "c": (3.0, 0.93), "d": (1.0, 0.85)}
    assert pareto_front(points) == ["a", "b"]


def test_report_files_are_rebuilt_from_metrics_alone(tmp_path) -> None:
    write_report(tmp_path, copy.deepcopy(METRICS))
    names = sorted(p.name for p in tmp_path.iterdir())
    assert names == [
        "benchmark_accuracy_vs_latency.png",
        "benchmark_sizes.png",
        "report.html",
        "report.md",
        "training_curves.png",
    ]
    for png in tmp_path.glob("*.png"):
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    page = (tmp_path / "report.html").read_text()
    assert page.count('src="data:image/png;base64,') == 3
    # Self-contained: no link, script or stylesheet outside the file.
    assert not re.search(r'(src|href)="(?!data:)', page) and "<script" not in page
    assert "<strong>1.5× slower</strong>" in page and "<th>model</th>" in page
    markdown = (tmp_path / "report.md").read_text()
    assert "![training curves](training_curves.png)" in markdown


def test_html_escapes_and_survives_odd_lines(tmp_path) -> None:
    page = markdown_to_html("# a <b>\n\n![broken](\ntext & more\n- item `x<y`\n", tmp_path, "t")
    assert "<h1>a &lt;b&gt;</h1>" in page and "text &amp; more" in page
    assert "<li>item <code>x&lt;y</code></li>" in page


def test_html_figures_do_not_wrap_but_sentences_do(tmp_path) -> None:
    result = "test accuracy 98.33% (PyTorch); 9.61 k parameters; 63,946 samples/s"
    table = f"| stage | time | result |\n|---|---|---|\n| `teacher` | 21.667 ms | {result} |\n"
    page = markdown_to_html(table, tmp_path, "t")
    assert '<td class="figure">21.667 ms</td>' in page
    assert '<td class="figure"><code>teacher</code></td>' in page
    assert f"<td>{result}</td>" in page
    assert '<div class="table"><table>' in page and "</table></div>" in page


def test_cli_report_rebuilds_a_run_folder(tmp_path, capsys) -> None:
    (tmp_path / "metrics.json").write_text(json.dumps(METRICS))
    assert cli.main(["report", str(tmp_path)]) == 0
    assert (tmp_path / "report.html").exists() and "wrote" in capsys.readouterr().out
    assert cli.main(["report", str(tmp_path / "nothing")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and "metrics.json: not found" in err and "\n" not in err


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
