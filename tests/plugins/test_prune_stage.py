"""The prune and sensitivity stages in real runs on the shipped digits."""

from __future__ import annotations

import json

import pytest

from compressor import recipe
from compressor.errors import RecipeError, StageFailure, UsageError
from compressor.run import pipeline
from compressor.run.progress import Progress


def _run(registry, tiny_recipe, tmp_path, **prune):
    tiny_recipe["stages"] = tiny_recipe["stages"][:3]
    stage = tiny_recipe["stages"][2]
    stage.pop("ratio", None)
    stage.update(prune)
    plan = recipe.resolve(tiny_recipe, registry)
    return pipeline.run(plan, registry, tmp_path / "run", progress=Progress(enabled=False))


def test_target_macs_with_iterative_steps_and_taylor(registry, tiny_recipe, tmp_path) -> None:
    tiny_recipe["stages"][1]["model"]["options"]["hidden"] = [64, 32]
    result = _run(
        registry,
        tiny_recipe,
        tmp_path,
        pruner={"name": "taylor"},
        target_macs=0.4,
        iterative_steps=2,
        finetune={"epochs": 1, "epochs_between_steps": 1},
    )
    m = result.metrics["stages"]["prune"]
    assert m["goal"] == {"target_macs": 0.4}
    assert m["reached"]["macs_fraction"] <= 0.4
    assert m["pruned"]["macs"] <= 0.4 * m["before"]["macs"]
    for key in ("val_accuracy",):
        assert 0 <= m["before"][key] <= 1 and 0 <= m["pruned"][key] <= 1 and 0 <= m[key] <= 1
    assert (result.run_dir / "student.pt").exists()


def test_unknown_ignored_path_fails_before_training(registry, tiny_recipe, tmp_path) -> None:
    with pytest.raises(
        RecipeError,
        match=r"stages.prune.ignored\[0\]: no module 'hiden.0'.*did you mean 'hidden.0'",
    ):
        _run(registry, tiny_recipe, tmp_path, ratio=0.5, ignored=["hiden.0"])
    assert not list(tmp_path.iterdir())  # nothing trained, no run folder


def test_bn_scale_on_a_model_without_batchnorm(registry, tiny_recipe, tmp_path) -> None:
    with pytest.raises(UsageError, match="stages.prune.pruner.name: bn_scale .* no BatchNorm"):
        _run(registry, tiny_recipe, tmp_path, pruner={"name": "bn_scale"}, ratio=0.5)


def test_unreachable_target_fails_the_stage(registry, tiny_recipe, tmp_path) -> None:
    with pytest.raises(StageFailure, match="target_params 0.01 cannot be met"):
        _run(registry, tiny_recipe, tmp_path, target_params=0.01, max_ratio=0.5)
    assert (tmp_path / "run.failed" / "student_distilled.pt").exists()


def test_no_prunable_layer(registry, tiny_recipe, tmp_path) -> None:
    tiny_recipe["stages"][1]["model"]["options"]["hidden"] = []  # logistic regression
    with pytest.raises(UsageError, match="no prunable layer"):
        _run(registry, tiny_recipe, tmp_path, ratio=0.5)


def test_sensitivity_sweep_writes_table_and_plot(registry, tiny_recipe, tmp_path) -> None:
    tiny_recipe["stages"] = tiny_recipe["stages"][:2] + [
        {
            "name": "sensitivity",
            "type": "sensitivity",
            "inputs": {"model": "student_distilled"},
            "ratios": [0.2, 0.8],
            "per_layer": True,
        }
    ]
    plan = recipe.resolve(tiny_recipe, registry)
    result = pipeline.run(plan, registry, tmp_path / "run", progress=Progress(enabled=False))
    rows = json.loads((result.run_dir / "sensitivity.json").read_text())["rows"]
    scopes = {r["scope"] for r in rows}
    assert scopes == {"model", "hidden.0"}  # the classifier is never swept
    whole = {r["ratio"]: r for r in rows if r["scope"] == "model"}
    assert whole[0.8]["params_fraction"] < whole[0.2]["params_fraction"] < 1
    assert (result.run_dir / "sensitivity.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "| `model` | 0.20 |" in (result.run_dir / "sensitivity.md").read_text()


def test_batchnorm_statistics_are_recalibrated_after_pruning(
    registry, tiny_recipe, tmp_path
) -> None:
    # Prune the teacher (a CNN with BatchNorm): its layers' inputs change with the channels.
    tiny_recipe["stages"] = [
        tiny_recipe["stages"][0],
        {
            "name": "prune",
            "type": "prune",
            "inputs": {"model": "teacher"},
            "outputs": {"model": "student"},
            "ratio": 0.5,
            "finetune": {"epochs": 0},
        },
    ]
    plan = recipe.resolve(tiny_recipe, registry)
    result = pipeline.run(plan, registry, tmp_path / "a", progress=Progress(enabled=False))
    m = result.metrics["stages"]["prune"]
    # Every batch of the training split (19 batches of 64), up to the default 20.
    assert m["bn_recalibration"]["batches"] == 19
    assert m["bn_recalibration"]["val_accuracy_before"] == m["pruned"]["val_accuracy"]
    assert m["test_accuracy"] > 0.2

    tiny_recipe["stages"][1]["recalibrate_bn"] = None
    plan = recipe.resolve(tiny_recipe, registry)
    kept = pipeline.run(plan, registry, tmp_path / "b", progress=Progress(enabled=False))
    assert "bn_recalibration" not in kept.metrics["stages"]["prune"]
