"""Fixtures of the report tests: the metrics of a small run with every section filled."""

from __future__ import annotations


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
