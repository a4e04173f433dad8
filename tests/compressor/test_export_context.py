"""compressor.export_context: recipe hash, and the export call that old exporters survive."""

from __future__ import annotations

from compressor.export_context import (
    ExportContext,
    accepts_context,
    call_export,
    recipe_hash,
    run_recipe_hash,
)


def test_recipe_hash_ignores_key_order_and_sees_values(tmp_path) -> None:
    a = recipe_hash({"name": "r", "stages": [{"epochs": 3}]})
    assert a == recipe_hash({"stages": [{"epochs": 3}], "name": "r"}) and len(a) == 16
    assert a != recipe_hash({"name": "r", "stages": [{"epochs": 4}]})
    (tmp_path / "recipe.yaml").write_text("name: r\nstages:\n- epochs: 3\n")
    assert run_recipe_hash(tmp_path) == a
    assert run_recipe_hash(tmp_path / "empty") == ""


class Old:
    def export(self, model, example_inputs, path):
        return {"called": "old"}


class New:
    def export(self, model, example_inputs, path, *, context=None):
        return {"called": "new", "hash": context.recipe_hash}


class Anything:
    def export(self, model, example_inputs, path, **kwargs):
        return {"called": "kwargs", "keys": sorted(kwargs)}


def test_context_reaches_only_exporters_that_take_it(tmp_path) -> None:
    ctx = ExportContext(recipe_hash="abc")
    assert not accepts_context(Old().export) and accepts_context(New().export)
    assert call_export(Old(), None, None, tmp_path, ctx) == {"called": "old"}
    assert call_export(New(), None, None, tmp_path, ctx) == {"called": "new", "hash": "abc"}
    assert call_export(Anything(), None, None, tmp_path, ctx) == {
        "called": "kwargs",
        "keys": ["context"],
    }
