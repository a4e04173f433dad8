"""Does unlabelled transfer data help? The shipped ``mnist_transfer`` recipe over three seeds.

500 labelled MNIST digits train a CNN teacher; the distilled MLP learns from that teacher on
those 500 plus 4,000 other shipped digits whose labels it never sees (the distill stage's
``transfer``). Test accuracy on 400 held-out digits. Arms (one run per seed, the recipe's stages
plus two added here; every student is the same 784-64-10 MLP with Adam at lr 0.002):

- ``teacher``: the seed CNN, 40 epochs on the 500 labelled digits.
- ``student_alone``: 60 epochs on the 500 labelled digits (30,000 samples seen): the recipe's
  control.
- ``distill``: kd + ce on the 500 labelled digits, kd alone on the 4,000 transfer digits, 30
  epochs (135,000 samples seen): the recipe's student.
- ``distill_labelled`` (added): the same losses on the 500 labelled digits alone, 270 epochs: as
  many samples seen as ``distill``. It differs from ``distill`` only in where its samples come
  from, so the gap between them is what the unlabelled digits add.
- ``student_alone_long`` (added): the student alone for 270 epochs, as many samples seen as
  ``distill``: the control with the same budget.

Goal (issue 18): the distilled student beats the student trained alone by at least 2 points
(median over the seeds); the script prints every gap per seed, with medians and spreads.

Usage:
    python benchmarks/transfer.py [--seeds 0 1 2]
"""

from __future__ import annotations

import argparse
import copy
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import yaml

from compressor import recipe
from compressor.plugin.registry import Registry
from compressor.recipe.shipped import recipes_dir
from compressor.run import pipeline
from compressor.run.progress import Progress

GOAL_POINTS = 2.0
#: The arms in the order they are printed.
ARMS = ("teacher", "student_alone", "student_alone_long", "distill_labelled", "distill")


def arms_recipe(seed: int) -> tuple[dict[str, Any], dict[str, int]]:
    """The shipped recipe for ``seed`` with the two equal-samples arms added, and each
    student's samples seen per epoch times its epochs (labelled rows are the recipe's 500)."""
    raw = yaml.safe_load((recipes_dir() / "mnist_transfer.yaml").read_text())
    raw["seed"] = seed
    stages = {s["name"]: s for s in raw["stages"]}
    labelled = int(raw["data"]["options"]["limit"])
    transfer = 4000  # the recipe's: 4,500 training digits, the first 500 skipped
    seen = stages["distill"]["epochs"] * (labelled + transfer)
    equal_epochs = seen // labelled
    long_alone = copy.deepcopy(stages["student_alone"])
    long_alone.update(name="student_alone_long", epochs=equal_epochs)
    labelled_only = copy.deepcopy(stages["distill"])
    del labelled_only["transfer"], labelled_only["transfer_mode"]
    labelled_only.update(
        name="distill_labelled", epochs=equal_epochs, outputs={"model": "distill_labelled"}
    )
    raw["stages"] += [long_alone, labelled_only]
    samples = {
        "student_alone": stages["student_alone"]["epochs"] * labelled,
        "student_alone_long": equal_epochs * labelled,
        "distill_labelled": equal_epochs * labelled,
        "distill": seen,
    }
    return raw, samples


def run_seed(registry: Registry, seed: int, out: Path) -> tuple[dict[str, float], dict[str, int]]:
    """Test accuracy (in %) of every arm, and each student's samples seen."""
    raw, samples = arms_recipe(seed)
    plan = recipe.resolve(raw, registry)
    result = pipeline.run(plan, registry, out / f"seed{seed}", progress=Progress(enabled=False))
    stages = result.metrics["stages"]
    assert stages["distill"]["transfer_rows"] == 4000, stages["distill"].get("transfer_rows")
    return {name: 100.0 * stages[name]["test_accuracy"] for name in ARMS}, samples


def _spread(values: list[float]) -> str:
    return f"{statistics.median(values):+.2f} [{min(values):+.2f}, {max(values):+.2f}]"


def main() -> None:
    """Run the arms once per seed and print the accuracies and the gaps."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    args = parser.parse_args()
    registry = Registry.load()
    print("seed  " + "  ".join(f"{a:>18}" for a in ARMS) + "   seconds")
    results = []
    samples: dict[str, int] = {}
    with tempfile.TemporaryDirectory() as folder:
        for seed in args.seeds:
            started = time.perf_counter()
            acc, samples = run_seed(registry, seed, Path(folder))
            results.append(acc)
            print(
                f"{seed:>4}  "
                + "  ".join(f"{acc[a]:17.2f}%" for a in ARMS)
                + f"  {time.perf_counter() - started:8.1f}"
            )
    print("samples seen: " + ", ".join(f"{a} {n:,}" for a, n in samples.items()))
    gaps = {
        "distill vs student_alone (the recipe's comparison)": ("distill", "student_alone"),
        "distill vs student_alone_long (equal samples)": ("distill", "student_alone_long"),
        "distill vs distill_labelled (equal samples: what the unlabelled digits add)": (
            "distill",
            "distill_labelled",
        ),
    }
    for label, (a, b) in gaps.items():
        per_seed = [r[a] - r[b] for r in results]
        print(
            f"{label}: median {_spread(per_seed)} points "
            f"(per seed {', '.join(f'{g:+.2f}' for g in per_seed)})"
        )
    recipe_gap = statistics.median(r["distill"] - r["student_alone"] for r in results)
    print(
        f"goal (median gap over the student alone >= {GOAL_POINTS} points): "
        f"{'met' if recipe_gap >= GOAL_POINTS else 'missed'}"
    )


if __name__ == "__main__":
    main()
