"""The same recipe and seed give the same figures, exactly: runs can be compared and repeated."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch

from compressor.cli import main


def _figures(node: Any, prefix: str = "") -> dict[str, float]:
    """Every accuracy and loss figure in ``metrics.json``, by its path."""
    found: dict[str, float] = {}
    items = (
        node.items()
        if isinstance(node, dict)
        else enumerate(node)
        if isinstance(node, list)
        else ()
    )
    for key, value in items:
        path = f"{prefix}.{key}"
        if isinstance(value, dict | list):
            found.update(_figures(value, path))
        elif isinstance(value, float) and ("accuracy" in str(key) or str(key) == "loss"):
            found[path] = value
    return found


def _run(capsys, recipe_file: Path, out: Path, seed: int) -> dict[str, float]:
    assert (
        main(["run", str(recipe_file), "--quiet", "--out", str(out), "--set", f"seed={seed}"]) == 0
    )
    capsys.readouterr()
    return _figures(json.loads((out / "metrics.json").read_text()))


def test_same_seed_gives_identical_figures_and_weights(
    capsys, tmp_path, tiny_recipe, write_recipe
) -> None:
    # Train, distill and prune with fine-tuning, with augmentation: every stage and every
    # generator that draws random numbers. With augmentation the teacher runs every step, on
    # the backend `auto` picks (a fixed rule, so both runs pick the same).
    tiny_recipe["stages"] = tiny_recipe["stages"][:3]
    tiny_recipe["data"]["augment"] = {"shift": 1, "mixup": 0.2, "mix_prob": 0.5}
    teacher, distill, _ = tiny_recipe["stages"]
    teacher["epochs"] = distill["epochs"] = 1
    recipe_file = write_recipe(tiny_recipe)

    first = _run(capsys, recipe_file, tmp_path / "a", seed=0)
    again = _run(capsys, recipe_file, tmp_path / "b", seed=0)

    assert {k for k in first if k.endswith("test_accuracy")} >= {
        ".stages.teacher.test_accuracy",
        ".stages.distill.test_accuracy",
        ".stages.prune.test_accuracy",
    }
    assert first == again  # ==, not approx: the same seed must repeat to the last bit
    for name in ("teacher", "student_distilled", "student"):
        a = torch.load(tmp_path / "a" / f"{name}.pt", weights_only=True)["state_dict"]
        b = torch.load(tmp_path / "b" / f"{name}.pt", weights_only=True)["state_dict"]
        assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a), name

    # The seed matters (so the equality above is not vacuous): another seed, other losses.
    tiny_recipe["stages"] = tiny_recipe["stages"][:1]
    other = _run(capsys, write_recipe(tiny_recipe, "teacher.yaml"), tmp_path / "c", seed=1)
    teacher = {k: v for k, v in first.items() if k.startswith(".stages.teacher.")}
    other = {k: v for k, v in other.items() if k.startswith(".stages.teacher.")}
    assert other.keys() == teacher.keys() and other != teacher
