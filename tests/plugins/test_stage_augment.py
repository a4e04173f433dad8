"""A training stage's own ``augment`` replaces ``data.augment`` for that stage only."""

from __future__ import annotations

import copy

import pytest

from compressor import recipe
from compressor.run import pipeline
from tests.conftest import TINY_RECIPE


def test_stage_augment_overrides_the_data_config(tmp_path, registry, write_recipe) -> None:
    raw = copy.deepcopy(TINY_RECIPE)
    raw["stages"] = raw["stages"][:2]
    raw["stages"][1]["augment"] = {"shift": 1, "mixup": 0.5}
    result = pipeline.run(recipe.load(write_recipe(raw), registry), registry, tmp_path / "run")
    stages = result.metrics["stages"]
    # The teacher trained without augmentation; the distill stage saw shifted, mixed batches,
    # so its teacher had to run every step instead of being cached.
    assert stages["distill"]["teacher_cached"] is False
    assert stages["distill"]["teacher_backends"]
    resolved = (tmp_path / "run" / "recipe.yaml").read_text()
    assert "mixup: 0.5" in resolved


WARPS = [{"rotate": 15.0}, {"scale": 0.1}, {"elastic": 4.0, "elastic_sigma": 2.0}]


@pytest.mark.parametrize("augment", WARPS)
def test_warping_alone_makes_the_teacher_run_every_step(
    tmp_path, registry, write_recipe, augment
) -> None:
    raw = copy.deepcopy(TINY_RECIPE)
    raw["stages"] = raw["stages"][:2]
    raw["stages"][1]["augment"] = augment
    result = pipeline.run(recipe.load(write_recipe(raw), registry), registry, tmp_path / "run")
    # Warped batches differ every epoch: outputs cached from the clean images would be wrong.
    assert result.metrics["stages"]["distill"]["teacher_cached"] is False


def test_without_stage_augment_the_teacher_is_cached(tmp_path, registry, write_recipe) -> None:
    raw = copy.deepcopy(TINY_RECIPE)
    raw["stages"] = raw["stages"][:2]
    result = pipeline.run(recipe.load(write_recipe(raw), registry), registry, tmp_path / "run")
    assert result.metrics["stages"]["distill"]["teacher_cached"] is True


@pytest.mark.parametrize(
    ("augment", "field"),
    [({"shift": -1}, "shift"), ({"scale": 1.5}, "scale"), ({"rotate": 200}, "rotate")],
)
def test_bad_stage_augment_names_the_field(registry, write_recipe, augment, field) -> None:
    from compressor.errors import RecipeError

    raw = copy.deepcopy(TINY_RECIPE)
    raw["stages"][1]["augment"] = augment
    with pytest.raises(RecipeError, match=rf"stages\.distill\.augment\.{field}"):
        recipe.load(write_recipe(raw), registry)
