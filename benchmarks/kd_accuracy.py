"""Does distillation beat training the student alone? Each logit loss, over several seeds.

On the split, budget and augmentation of ``recipes/mnist_seed.yaml``: the teacher, the seed MLP
student trained alone, and the same student distilled with each logit loss (kd, kd with logit
standardization, dkd, dist, mse_logits), over 3 seeds. Prints held-out test accuracy as
mean ± std and writes the table to ``benchmarks/results/kd_accuracy.md``.

Usage:
    python benchmarks/kd_accuracy.py                  # the full budget (about 30-40 min on 2 cores)
    python benchmarks/kd_accuracy.py --scale 0.2      # a fifth of the epochs, for a quick look
"""

from __future__ import annotations

import argparse
import copy
import statistics
import tempfile
from pathlib import Path

import yaml

from compressor import pipeline, recipe
from compressor.progress import Progress
from compressor.registry import Registry

ROOT = Path(__file__).resolve().parents[1]

LOSSES = {
    "kd": [{"name": "kd", "weight": 1.0, "options": {"temperature": 1}}],
    "kd + standardize": [
        {"name": "kd", "weight": 0.9, "options": {"temperature": 2, "standardize": True}},
        {"name": "ce", "weight": 0.1},
    ],
    "dkd": [{"name": "dkd", "weight": 1.0}, {"name": "ce", "weight": 1.0}],
    "dist": [{"name": "dist", "weight": 1.0}, {"name": "ce", "weight": 1.0}],
    "mse_logits": [{"name": "mse_logits", "weight": 1.0}, {"name": "ce", "weight": 0.5}],
}


def build_recipe(seed: int, scale: float, registry: Registry) -> dict:
    """The seed recipe with one distill stage per loss and no export/benchmark."""
    base = yaml.safe_load((ROOT / "recipes" / "mnist_seed.yaml").read_text())
    stages = {s["name"]: s for s in base["stages"]}
    teacher, alone, distill = stages["teacher"], stages["student_alone"], stages["distill"]
    for stage in (teacher, alone, distill):
        stage["epochs"] = max(1, round(stage["epochs"] * scale))
    base["seed"] = seed
    base["stages"] = [teacher, alone]
    for label, terms in LOSSES.items():
        if not all(registry.has("loss", t["name"]) for t in terms):
            continue
        stage = copy.deepcopy(distill)
        stage["name"] = "distill_" + label.replace(" + ", "_")
        stage["outputs"] = {"model": stage["name"]}
        stage["losses"] = terms
        base["stages"].append(stage)
    return base


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--scale", type=float, default=1.0, help="multiply every stage's epochs")
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "kd_accuracy.md")
    args = parser.parse_args()
    registry = Registry.load()
    results: dict[str, list[float]] = {}
    for seed in range(args.seeds):
        plan = recipe.resolve(build_recipe(seed, args.scale, registry), registry)
        with tempfile.TemporaryDirectory() as tmp:
            run = pipeline.run(plan, registry, Path(tmp) / "run", progress=Progress())
        for name, stage in run.metrics["stages"].items():
            results.setdefault(name, []).append(100 * stage["test_accuracy"])
        print(f"seed {seed}: " + ", ".join(f"{n} {v[-1]:.2f}" for n, v in results.items()))

    alone = statistics.mean(results["student_alone"])
    lines = [
        f"# Distillation vs training alone: seed MLP on the shipped MNIST digits ({args.seeds} seeds, "
        f"epochs x{args.scale})",
        "",
        "| model | test accuracy (mean ± std) | vs student alone (points) |",
        "|---|---|---|",
    ]
    for name, values in results.items():
        mean = statistics.mean(values)
        std = statistics.stdev(values) if len(values) > 1 else 0.0
        lines.append(f"| {name} | {mean:.2f} ± {std:.2f} | {mean - alone:+.2f} |")
    table = "\n".join(lines) + "\n"
    print("\n" + table)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(table)
    print(f"written to {args.out}")


if __name__ == "__main__":
    main()
