"""Detection on digit canvases: a teacher, a distilled student and the same student trained alone.

The shipped ``detection`` recipe (1-3 MNIST digits on 96x96 canvases, drawn from the digits
compressor ships) with one arm added: the student's architecture trained alone, with the same
epochs, optimizer and batches as the distilled one; the distilled student differs only in its
loss (the detector's own plus ``dense_kd`` from the teacher). Every arm is exported with its
decoding and NMS and scored as an ONNX file in onnxruntime on the test split, in mAP@.5 and
mAP@[.5:.95]; all files are timed in one benchmark stage, interleaved (batch 1 and 32, one
thread), so the ratios come from one run. The distilled student is then quantized by the
recipe's ``mode: auto`` (chosen on validation mAP) and timed beside its FP32 file.

Goals (issue 24): the distilled student >= 4x faster than the teacher at batch 1, within 2
points of its mAP@.5 and above the student alone; INT8 >= 1.5x faster than FP32 with <= 1
point of mAP@.5 lost, or ``auto`` keeps FP32 and says why.

Arms: teacher, student alone, distilled student (and its INT8 file). The two students differ
only in their loss; the teacher differs in its architecture.

Usage:
    python benchmarks/detection.py [--images 1500] [--epochs 12] [--seed 0]
"""

from __future__ import annotations

import argparse
import copy
import tempfile
import time
from pathlib import Path
from typing import Any

import yaml

from compressor import recipe
from compressor.plugin.registry import Registry
from compressor.recipe.shipped import shipped_recipes
from compressor.run import pipeline
from compressor.run.progress import Progress

FILES = ("teacher.onnx", "student_alone.onnx", "student.onnx", "student.int8.onnx")


def arms(raw: dict[str, Any], epochs: int, images: int, seed: int) -> dict[str, Any]:
    """The shipped recipe with the student-alone arm, no pruning, every file benchmarked."""
    raw = copy.deepcopy(raw)
    raw["seed"] = seed
    raw["data"]["options"]["images"] = images
    stages = {s["name"]: s for s in raw["stages"]}
    teacher, distill = stages["teacher"], stages["distill"]
    teacher["epochs"] = distill["epochs"] = epochs
    distill["outputs"] = {"model": "student"}
    alone = {
        "name": "student_alone",
        "type": "train",
        "model": copy.deepcopy(distill["model"]),
        "epochs": epochs,
        "optimizer": copy.deepcopy(distill["optimizer"]),
        "losses": [{"name": "detection"}],
    }
    raw["stages"] = [
        teacher,
        alone,
        distill,
        {
            "name": "export",
            "type": "export",
            "inputs": {"models": ["teacher", "student_alone", "student"]},
        },
        {"name": "quantize", "type": "quantize", "inputs": {"models": ["student.onnx"]}},
        {
            "name": "benchmark",
            "type": "benchmark",
            "inputs": {"models": list(FILES)},
            "reference": "teacher.onnx",
            "batch_sizes": [1, 32],
            "threads": [1],
        },
    ]
    return raw


def report(metrics: dict[str, Any], seconds: float) -> None:
    """Print the figures and the goals."""
    bench = metrics["stages"]["benchmark"]["models"]
    print(f"{'file':20} {'mAP@.5':>8} {'mAP':>8} {'p50 ms b1':>10} {'x teacher':>10}")
    for name in FILES:
        m = bench[name]
        print(
            f"{name:20} {100 * m['map50']:7.2f}% {100 * m['map']:7.2f}% "
            f"{m['latency_ms']['p50']:10.3f} {m['ratios']['latency_speedup']:9.2f}x"
        )
    teacher, student, alone = (
        bench["teacher.onnx"],
        bench["student.onnx"],
        bench["student_alone.onnx"],
    )
    speedup = student["ratios"]["latency_speedup"]
    gap = 100 * (teacher["map50"] - student["map50"])
    gain = 100 * (student["map50"] - alone["map50"])
    quantize = metrics["stages"]["quantize"]["files"]["student.int8.onnx"]
    int8 = bench["student.int8.onnx"]
    int8_speed = student["latency_ms"]["p50"] / int8["latency_ms"]["p50"]
    int8_loss = 100 * (student["map50"] - int8["map50"])
    print(
        f"distilled vs teacher: {speedup:.2f}x faster at batch 1 (goal >= 4), mAP@.5 {gap:+.2f} points behind (goal <= 2)"
    )
    print(f"distilled vs student alone: mAP@.5 {gain:+.2f} points (goal > 0)")
    print(
        f"INT8 ({quantize['kept']}): {int8_speed:.2f}x the FP32 file's speed, mAP@.5 {-int8_loss:+.2f} points; {quantize['reason']}"
    )
    print(f"wall time {seconds:.0f} s")


def main() -> None:
    """Run the arms in one pipeline and print the figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=1500, help="canvases in all")
    parser.add_argument("--epochs", type=int, default=12, help="epochs of every arm")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    registry = Registry.load()
    (shipped,) = [r for r in shipped_recipes() if r.name == "detection"]
    raw = yaml.safe_load(Path(shipped.path).read_text(encoding="utf-8"))
    plan = recipe.resolve(arms(raw, args.epochs, args.images, args.seed), registry)
    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as folder:
        result = pipeline.run(plan, registry, Path(folder) / "run", progress=Progress())
    report(result.metrics, time.perf_counter() - started)


if __name__ == "__main__":
    main()
