"""Keyword spotting on the Free Spoken Digit Dataset: teacher, distilled student, student alone.

The shipped ``speech`` recipe's models on the shared FSDD copy (2,000 recordings, 4 speakers,
8 kHz; ``--root``), twice: on the dataset's own split (recordings 0-4 of every speaker are the
test split) and with one speaker held out of training entirely (``--test-speaker``). Three arms
per split: the teacher (BC-ResNet-2), the student trained alone and the student distilled from
the teacher (both the recipe's BC-ResNet-1.5 with plain batch norm: the same architecture, epochs, optimizer
and batches; the distilled one differs only in its loss, kd 0.9 + ce 0.1 against ce alone).
Every arm is exported to an ONNX file that takes the raw waveform (the log-mel front-end is in
the graph) and scored in onnxruntime on the raw test clips; all files are timed in one
benchmark stage, interleaved, at batch 1 on one thread (front-end included). The distilled
student is then quantized by ``mode: static`` (the front-end kept float) and timed beside its
FP32 file.

Goals (issue 25): a student under 50k parameters at >= 97% on the dataset's own split; <= 0.5
ms p50 at batch 1, one thread, front-end included; distillation's gain over the student alone
on the held-out speaker; INT8 against FP32 in speed and accuracy.

Usage:
    python benchmarks/speech.py [--root /path/to/fsdd/recordings] [--epochs 20]
    python benchmarks/speech.py --only own --student-scale 1   # BC-ResNet-1 students
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

FSDD = "/work/shared/data/fsdd/recordings"
FILES = ("teacher.onnx", "student_alone.onnx", "student.onnx", "student.int8.onnx")


def arms(
    raw: dict[str, Any], options: dict[str, Any], epochs: int, scale: float | None = None
) -> dict[str, Any]:
    """The shipped recipe on ``options``' data, with the student-alone arm, no pruning; both
    students at BC-ResNet ``scale`` when given (the recipe's otherwise)."""
    raw = copy.deepcopy(raw)
    raw["data"]["options"] = options
    stages = {s["name"]: s for s in raw["stages"]}
    teacher, distill = stages["teacher"], stages["distill"]
    if scale is not None:
        distill["model"]["options"]["scale"] = scale
    teacher["epochs"] = distill["epochs"] = epochs
    distill["outputs"] = {"model": "student"}
    alone = {
        "name": "student_alone",
        "type": "train",
        "model": copy.deepcopy(distill["model"]),
        "epochs": epochs,
        "optimizer": copy.deepcopy(distill["optimizer"]),
        "recalibrate_bn": copy.deepcopy(distill.get("recalibrate_bn")),
        "losses": [{"name": "ce"}],
    }
    if alone["recalibrate_bn"] is None:
        del alone["recalibrate_bn"]
    raw["stages"] = [
        teacher,
        alone,
        distill,
        {
            "name": "export",
            "type": "export",
            "inputs": {"models": ["teacher", "student_alone", "student"]},
            # The recipe's exporter settings: the front-end's log needs its looser atol.
            "exporter": copy.deepcopy(stages["export"].get("exporter", {"name": "onnx"})),
        },
        {
            "name": "quantize",
            "type": "quantize",
            "inputs": {"models": ["student.onnx"]},
            "mode": "static",
        },
        {
            "name": "benchmark",
            "type": "benchmark",
            "inputs": {"models": list(FILES)},
            "reference": "teacher.onnx",
            "batch_sizes": [1],
            "threads": [1],
        },
    ]
    return raw


def report(title: str, metrics: dict[str, Any]) -> dict[str, float]:
    """Print one split's figures; return the test accuracies (in %)."""
    bench = metrics["stages"]["benchmark"]["models"]
    print(f"\n{title}")
    print(f"{'file':20} {'test acc':>9} {'params':>8} {'p50 ms b1':>10}")
    for name in FILES:
        m = bench[name]
        print(
            f"{name:20} {100 * m['accuracy']:8.2f}% {m['params']:8,d} "
            f"{m['latency_ms']['p50']:10.3f}"
        )
    return {name: 100 * bench[name]["accuracy"] for name in FILES}


def run(registry: Registry, raw: dict[str, Any], folder: Path) -> dict[str, Any]:
    """Resolve and run one recipe; its metrics."""
    plan = recipe.resolve(raw, registry)
    return pipeline.run(plan, registry, folder, progress=Progress()).metrics


def main() -> None:
    """Run both splits and print the figures and the goals."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", default=FSDD, help="the FSDD recordings folder")
    parser.add_argument("--epochs", type=int, default=20, help="epochs of every arm")
    parser.add_argument("--test-speaker", default="george")
    parser.add_argument(
        "--student-scale", type=float, help="both students' BC-ResNet scale (default: the recipe's)"
    )
    parser.add_argument("--only", choices=["own", "speaker"], help="run one split only")
    args = parser.parse_args()
    registry = Registry.load()
    (shipped,) = [r for r in shipped_recipes() if r.name == "speech"]
    raw = yaml.safe_load(Path(shipped.path).read_text(encoding="utf-8"))
    splits = {
        "own split (recordings 0-4 of every speaker)": {"root": args.root, "split": "index"},
        f"speaker held out ({args.test_speaker})": {
            "root": args.root,
            "split": "speaker",
            "test_speaker": args.test_speaker,
        },
    }
    if args.only:
        splits = dict([list(splits.items())[0 if args.only == "own" else 1]])
    started = time.perf_counter()
    results = {}
    with tempfile.TemporaryDirectory() as folder:
        for i, (title, options) in enumerate(splits.items()):
            raw_arms = arms(raw, options, args.epochs, args.student_scale)
            metrics = run(registry, raw_arms, Path(folder) / f"run{i}")
            results[title] = (report(title, metrics), metrics)
    titles = list(splits)
    if args.only != "speaker":
        own, own_metrics = results[titles[0]]
        student = own_metrics["stages"]["benchmark"]["models"]["student.onnx"]
        int8 = own_metrics["stages"]["benchmark"]["models"]["student.int8.onnx"]
        print(
            f"\nstudent: {student['params']:,d} parameters (goal < 50,000), "
            f"{own['student.onnx']:.2f}% on the own split (goal >= 97), "
            f"{student['latency_ms']['p50']:.3f} ms p50 (goal <= 0.5)"
        )
        print(
            f"INT8: {student['latency_ms']['p50'] / int8['latency_ms']['p50']:.2f}x the FP32 "
            f"file's speed, {own['student.int8.onnx'] - own['student.onnx']:+.2f} points"
        )
    if args.only != "own":
        held, _ = results[titles[-1]]
        gain = held["student.onnx"] - held["student_alone.onnx"]
        print(f"distillation's gain on the held-out speaker: {gain:+.2f} points")
    print(f"wall time {time.perf_counter() - started:.0f} s")


if __name__ == "__main__":
    main()
