"""Recipes: YAML files that list the ordered stages of a compression run.

Loading a recipe is three steps, all before anything runs:

1. parse the YAML (``yaml.safe_load``: a recipe never runs code) and apply ``--set`` overrides
   (:mod:`compressor.recipe.files`, :mod:`compressor.recipe.overrides`);
2. validate the structure with pydantic (:mod:`compressor.recipe.models`), turning the first
   error into one line (:mod:`compressor.recipe.messages`);
3. resolve it against the registry (:mod:`compressor.recipe.resolve`): every plugin name must be
   registered, every ``options`` mapping must pass that plugin's own schema, every stage input
   must be produced by an earlier stage, and no artifact may be produced twice.

The result is a :class:`~compressor.plan.Plan`. Any problem is a
:class:`~compressor.errors.RecipeError` naming the field, the value and the valid choices.
"""

from __future__ import annotations

from compressor.plan import Plan, StageInfo
from compressor.recipe.files import load, read_recipe_file
from compressor.recipe.messages import field_path, recipe_error, validate
from compressor.recipe.models import (
    DEVICE_PATTERN,
    MAX_SEED,
    NAME_EXPECTED,
    NAME_PATTERN,
    STAGE_KEYS,
    AugmentConfig,
    DataConfig,
    PreprocessConfig,
    Recipe,
    StageConfig,
)
from compressor.recipe.resolve import resolve, resolve_refs, stage_inputs, stage_outputs
from compressor.recipe.values import check_values

__all__ = [
    "DEVICE_PATTERN",
    "MAX_SEED",
    "NAME_EXPECTED",
    "NAME_PATTERN",
    "STAGE_KEYS",
    "AugmentConfig",
    "DataConfig",
    "Plan",
    "PreprocessConfig",
    "Recipe",
    "StageConfig",
    "StageInfo",
    "check_values",
    "field_path",
    "load",
    "read_recipe_file",
    "recipe_error",
    "resolve",
    "resolve_refs",
    "stage_inputs",
    "stage_outputs",
    "validate",
]
