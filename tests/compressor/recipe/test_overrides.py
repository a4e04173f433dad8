"""``--set``: dotted paths, stage names, list indexes, YAML-typed values, clear errors."""

from __future__ import annotations

import pytest

from compressor.errors import UsageError
from compressor.recipe.overrides import apply_overrides


def test_set_by_stage_name_and_index(tiny_recipe) -> None:
    apply_overrides(
        tiny_recipe,
        [
            "stages.distill.epochs=3",
            "stages[0].model.options.channels=[4, 8]",
            "stages.prune.ratio=0.25",
            "seed=7",
            "data.options.val_fraction=0.1",
            "description=hello world",
        ],
    )
    assert tiny_recipe["stages"][1]["epochs"] == 3
    assert tiny_recipe["stages"][0]["model"]["options"]["channels"] == [4, 8]
    assert tiny_recipe["stages"][2]["ratio"] == 0.25
    assert tiny_recipe["seed"] == 7
    assert tiny_recipe["data"]["options"] == {"val_fraction": 0.1}
    assert tiny_recipe["description"] == "hello world"


def test_set_errors(tiny_recipe) -> None:
    with pytest.raises(UsageError, match="expected PATH=VALUE"):
        apply_overrides(tiny_recipe, ["stages.distill.epochs"])
    with pytest.raises(UsageError, match="no entry named 'distil'.*did you mean 'distill'"):
        apply_overrides(tiny_recipe, ["stages.distil.epochs=3"])
    with pytest.raises(UsageError, match="no index 9"):
        apply_overrides(tiny_recipe, ["stages.9.epochs=3"])
    # Found by test_recipe_fuzz: a superscript digit is a digit to str.isdigit, not to int().
    with pytest.raises(UsageError, match="no entry named '¹'"):
        apply_overrides(tiny_recipe, ["stages.¹=1"])
    with pytest.raises(UsageError, match="is a int, it has no field"):
        apply_overrides(tiny_recipe, ["seed.x=1"])
