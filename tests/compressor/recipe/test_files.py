"""Reading recipe files: missing, unreadable and malformed files, and every shipped recipe."""

from __future__ import annotations

import pytest

from compressor import recipe
from compressor.errors import RecipeError, UsageError


def test_file_errors(tmp_path, write_recipe, registry) -> None:
    with pytest.raises(UsageError, match="recipe file not found"):
        recipe.load(tmp_path / "nope.yaml", registry)
    bad = write_recipe("version: 1\nname: [unclosed\n")
    with pytest.raises(UsageError, match=r"invalid YAML at line \d+, column \d+"):
        recipe.load(bad, registry)
    listing = write_recipe("- a\n- b\n", name="list.yaml")
    with pytest.raises(UsageError, match="must be a mapping"):
        recipe.load(listing, registry)


def test_error_names_the_file(tiny_recipe, write_recipe, registry) -> None:
    tiny_recipe["seed"] = "x"
    path = write_recipe(tiny_recipe)
    with pytest.raises(RecipeError) as excinfo:
        recipe.load(path, registry)
    assert str(excinfo.value).startswith(f"{path}: seed: invalid value 'x'")


def test_shipped_recipes_are_valid(registry) -> None:
    from compressor.recipe.shipped import shipped_recipes

    recipes = shipped_recipes()
    assert {"quickstart", "deployment", "mnist_seed", "image_folder"} <= {r.name for r in recipes}
    for shipped in recipes:
        recipe.load(shipped.path, registry)
