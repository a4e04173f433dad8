"""Does distillation beat training the student alone? Each logit loss, over several seeds.

On the split, budget and augmentation of ``compressor/recipes/mnist_seed.yaml``: the teacher, the seed MLP
student trained alone, the same student distilled with the recipe's own losses
(``distill_recipe``) and with each other logit loss (kd with logit standardization, dkd, dist,
mse_logits), over 3 seeds. Prints held-out test accuracy per seed, as mean ± std and as the gain
over the student alone, and writes the table to ``benchmarks/results/kd_accuracy.md`` (raw
figures beside it as ``.json``).

Usage:
    python benchmarks/kd_accuracy.py                  # the full budget (about an hour on 2 cores)
    python benchmarks/kd_accuracy.py --scale 0.2      # a fifth of the epochs, for a quick look
"""

from __future__ import annotations

import argparse
import copy
import json
import statistics
import tempfile
from pathlib import Path

import yaml

from compressor import recipe
from compressor.plugin.registry import Registry
from compressor.recipe.shipped import recipes_dir
from compressor.run import pipeline
from compressor.run.progress import Progress

ROOT = Path(__file__).resolve().parents[1]

#: Other logit losses, each in the recipe's distill stage instead of the recipe's own losses.
LOSSES = {
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
    base = yaml.safe_load((recipes_dir() / "mnist_seed.yaml").read_text())
    stages = {s["name"]: s for s in base["stages"]}
    teacher, alone, distill = stages["teacher"], stages["student_alone"], stages["distill"]
    for stage in (teacher, alone, distill):
        stage["epochs"] = max(1, round(stage["epochs"] * scale))
    base["seed"] = seed
    base["stages"] = [teacher, alone]
    # The recipe's own losses first, read from it: the row the docs quote stays the recipe's.
    for label, terms in {"recipe": distill["losses"], **LOSSES}.items():
        if not all(registry.has("loss", t["name"]) for t in terms):
            continue
        stage = copy.deepcopy(distill)
        stage["name"] = "distill_" + label.replace(" + ", "_")
        stage["outputs"] = {"model": stage["name"]}
        stage["losses"] = terms
        base["stages"].append(stage)
    return base


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seeds", type=int, default=3, help="how many seeds")
    parser.add_argument("--first-seed", type=int, default=0, help="seeds run from this one up")
    parser.add_argument("--scale", type=float, default=1.0, help="multiply every stage's epochs")
    parser.add_argument(
        "--out", type=Path, default=ROOT / "benchmarks" / "results" / "kd_accuracy.md"
    )
    args = parser.parse_args()
    registry = Registry.load()
    results: dict[str, list[float]] = {}
    seeds = list(range(args.first_seed, args.first_seed + args.seeds))
    for seed in seeds:
        plan = recipe.resolve(build_recipe(seed, args.scale, registry), registry)
        with tempfile.TemporaryDirectory() as tmp:
            run = pipeline.run(plan, registry, Path(tmp) / "run", progress=Progress())
        for name, stage in run.metrics["stages"].items():
            results.setdefault(name, []).append(100 * stage["test_accuracy"])
        print(f"seed {seed}: " + ", ".join(f"{n} {v[-1]:.2f}" for n, v in results.items()))

    table = render(results, seeds, args.scale)
    print("\n" + table)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(table)
    raw = args.out.with_suffix(".json")
    raw.write_text(
        json.dumps({"seeds": seeds, "epochs_scale": args.scale, "test_accuracy": results}, indent=1)
    )
    print(f"written to {args.out} and {raw}")


def render(results: dict[str, list[float]], seeds: list[int], scale: float) -> str:
    """The markdown table: mean ± std, every seed, and the gain over the student alone per seed.

    The gain is paired (same seed, same split): seeds differ more from one another than a loss
    differs from the control within a seed, so the per-seed gains say more than the means.
    """
    alone = results["student_alone"]
    lines = [
        (
            "# Distillation vs training alone: seed MLP on the shipped MNIST digits "
            f"({len(seeds)} seeds, epochs x{scale})"
        ),
        "",
        (
            f"| model | test accuracy (mean ± std) | per seed ({', '.join(map(str, seeds))}) "
            "| vs student alone: mean (per seed), points |"
        ),
        "|---|---|---|---|",
    ]
    for name, values in results.items():
        std = statistics.stdev(values) if len(values) > 1 else 0.0
        gains = [v - a for v, a in zip(values, alone, strict=True)]
        lines.append(
            f"| {name} | {statistics.mean(values):.2f} ± {std:.2f} | "
            f"{', '.join(f'{v:.1f}' for v in values)} | {statistics.mean(gains):+.2f} "
            f"({', '.join(f'{g:+.1f}' for g in gains)}) |"
        )
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
