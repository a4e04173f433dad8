"""Recipe validation: every bad input is one line naming the field, the value and the choices."""

from __future__ import annotations

from typing import Any

import pytest

from compressor import recipe
from compressor.errors import RecipeError, UsageError
from compressor.plugin.registry import Registry


def _stage(r: dict[str, Any], name: str) -> dict[str, Any]:
    return next(s for s in r["stages"] if s["name"] == name)


def _error(r: dict[str, Any], registry: Registry) -> str:
    with pytest.raises(RecipeError) as excinfo:
        recipe.resolve(r, registry)
    message = str(excinfo.value)
    assert "\n" not in message
    return message


def test_valid_recipe_resolves_with_defaults(tiny_recipe, registry) -> None:
    plan = recipe.resolve(tiny_recipe, registry)
    assert [s.name for s in plan.stages] == ["teacher", "distill", "prune", "export", "benchmark"]
    teacher = plan.stages[0]
    assert teacher.outputs == {"model": "teacher"}  # a stage's name is its default artifact
    export = plan.stages[3]
    assert export.outputs == {"files": ["teacher.onnx", "student.onnx"]}
    distill = plan.stages[1].options
    assert [t.name for t in distill.losses] == ["kd", "ce"]
    assert distill.losses[0].parsed.temperature == 4.0
    resolved = plan.resolved()
    assert resolved["stages"][1]["losses"][0]["options"] == {
        "temperature": 4.0,
        "standardize": False,
    }
    assert resolved["data"]["options"]["val_fraction"] > 0


def test_unknown_top_level_key(tiny_recipe, registry) -> None:
    tiny_recipe["stagez"] = []
    message = _error(tiny_recipe, registry)
    assert message.startswith("stagez: unknown key")
    assert "did you mean 'stages'" in message


def test_missing_and_wrong_version(tiny_recipe, registry) -> None:
    del tiny_recipe["version"]
    assert _error(tiny_recipe, registry).startswith("version: required field is missing")
    tiny_recipe["version"] = 2
    assert "version: invalid value 2" in _error(tiny_recipe, registry)


@pytest.mark.parametrize(
    ("where", "key", "bad", "field", "expected"),
    [
        (
            "distill",
            ("losses", 0, "name"),
            "kdd",
            "stages.distill.losses[0].name",
            "did you mean 'kd'",
        ),
        (
            "prune",
            ("pruner", "name"),
            "magnitud",
            "stages.prune.pruner.name",
            "did you mean 'magnitude'",
        ),
        (
            "prune",
            ("pruner", "name"),
            "tailor",
            "stages.prune.pruner.name",
            "did you mean 'taylor'",
        ),
        (
            "export",
            ("exporter",),
            {"name": "onx"},
            "stages.export.exporter.name",
            "did you mean 'onnx'",
        ),
        (
            "distill",
            ("model", "name"),
            "seed_mpl",
            "stages.distill.model.name",
            "did you mean 'seed_mlp'",
        ),
        ("teacher", ("type",), "trian", "stages[0].type", "did you mean 'train'"),
    ],
)
def test_unknown_plugin_names(tiny_recipe, registry, where, key, bad, field, expected) -> None:
    node = _stage(tiny_recipe, where)
    if key[0] == "losses":
        node["losses"] = [{"name": "kd"}]
    for part in key[:-1]:
        node = node[part]
    node[key[-1]] = bad
    message = _error(tiny_recipe, registry)
    assert message.startswith(field + ": unknown")
    assert expected in message and "valid choices:" in message


def test_unknown_dataset(tiny_recipe, registry) -> None:
    tiny_recipe["data"]["dataset"] = "digitz"
    message = _error(tiny_recipe, registry)
    assert message.startswith("data.dataset: unknown dataset 'digitz'")
    assert "did you mean 'digits'" in message


@pytest.mark.parametrize(
    ("mutate", "field", "value"),
    [
        (lambda r: _stage(r, "teacher").update(epochs=-1), "stages.teacher.epochs", "-1"),
        (lambda r: _stage(r, "teacher").update(epochs="many"), "stages.teacher.epochs", "'many'"),
        (
            lambda r: _stage(r, "distill").update(
                losses=[{"name": "kd", "options": {"temperature": 0}}]
            ),
            "stages.distill.losses[0].options.temperature",
            "0",
        ),
        (lambda r: _stage(r, "prune").update(ratio=1.0), "stages.prune.ratio", "1.0"),
        (lambda r: _stage(r, "prune").update(ratio=-0.1), "stages.prune.ratio", "-0.1"),
        (lambda r: _stage(r, "prune").update(target_macs=1.5), "stages.prune.target_macs", "1.5"),
        (
            lambda r: _stage(r, "prune").update(ratios={"hidden.0": 1.0}),
            "stages.prune.ratios.hidden.0",
            "1.0",
        ),
        (lambda r: r.update(device="gpu"), "device", "'gpu'"),
        (lambda r: r["data"].update(batch_size=0), "data.batch_size", "0"),
    ],
)
def test_wrong_types_and_ranges(tiny_recipe, registry, mutate, field, value) -> None:
    mutate(tiny_recipe)
    message = _error(tiny_recipe, registry)
    assert message.startswith(f"{field}: invalid value {value}")


@pytest.mark.parametrize(
    ("mutate", "expected"),
    [
        (
            lambda r: r.update(device="tpu"),
            "device: invalid value 'tpu': expected auto, cpu, cuda, cuda:N (a GPU index) or mps",
        ),
        (
            lambda r: r.update(name="my recipe"),
            "name: invalid value 'my recipe': expected letters, digits",
        ),
        (
            lambda r: _stage(r, "teacher").update(name="-teacher"),
            "stages[0].name: invalid value '-teacher': expected letters",
        ),
        (
            lambda r: _stage(r, "teacher").update(
                model={"name": "import", "options": {"target": "nets.TinyNet"}}
            ),
            "stages.teacher.model.options.target: invalid value 'nets.TinyNet': expected package.module:attr",
        ),
    ],
)
def test_patterns_are_explained_in_words(tiny_recipe, registry, mutate, expected) -> None:
    # A field's regular expression is no help to a user; its `expected` text is.
    mutate(tiny_recipe)
    message = _error(tiny_recipe, registry)
    assert message.startswith(expected)
    assert "pattern" not in message and "^" not in message


def test_prune_goals_are_exclusive(tiny_recipe, registry) -> None:
    _stage(tiny_recipe, "prune").update(ratio=0.5, target_macs=0.5)
    message = _error(tiny_recipe, registry)
    assert (
        message
        == "stages.prune: give only one of ratio, target_macs, target_params (got ratio, target_macs)"
    )
    del _stage(tiny_recipe, "prune")["ratio"], _stage(tiny_recipe, "prune")["target_macs"]
    plan = recipe.resolve(tiny_recipe, registry)
    assert plan.stages[2].options.ratio == 0.5  # the default goal


def test_unknown_stage_option_lists_valid_keys(tiny_recipe, registry) -> None:
    _stage(tiny_recipe, "distill")["epoch"] = 3
    message = _error(tiny_recipe, registry)
    assert message.startswith("stages.distill.epoch: unknown key")
    assert "did you mean 'epochs'" in message and "inputs" in message


def test_unknown_plugin_option(tiny_recipe, registry) -> None:
    _stage(tiny_recipe, "distill")["losses"] = [{"name": "kd", "options": {"temprature": 2}}]
    message = _error(tiny_recipe, registry)
    assert message.startswith("stages.distill.losses[0].options.temprature: unknown key")
    assert "did you mean 'temperature'" in message


def test_input_not_produced_by_an_earlier_stage(tiny_recipe, registry) -> None:
    _stage(tiny_recipe, "distill")["inputs"] = {"teacher": "teachr"}
    message = _error(tiny_recipe, registry)
    assert message.startswith("stages.distill.inputs.teacher: artifact 'teachr' is not produced")
    assert "did you mean 'teacher'" in message


def test_input_produced_only_later_is_an_error(tiny_recipe, registry) -> None:
    tiny_recipe["stages"].insert(0, tiny_recipe["stages"].pop(1))  # distill before its teacher
    assert "artifact 'teacher' is not produced by any earlier stage" in _error(
        tiny_recipe, registry
    )


def test_two_stages_writing_the_same_artifact(tiny_recipe, registry) -> None:
    _stage(tiny_recipe, "prune")["outputs"] = {"model": "student_distilled"}
    message = _error(tiny_recipe, registry)
    assert message.startswith("stages.prune.outputs.model: artifact 'student_distilled' is already")
    assert "'distill'" in message


def test_duplicate_stage_names(tiny_recipe, registry) -> None:
    _stage(tiny_recipe, "distill")["name"] = "teacher"
    assert "duplicate stage name 'teacher'" in _error(tiny_recipe, registry)


def test_unknown_and_missing_slots(tiny_recipe, registry) -> None:
    _stage(tiny_recipe, "distill")["inputs"] = {"teachers": "teacher"}
    message = _error(tiny_recipe, registry)
    assert message.startswith("stages.distill.inputs.teachers: unknown input slot")
    assert "did you mean 'teacher'" in message
    _stage(tiny_recipe, "distill")["inputs"] = {}
    assert _error(tiny_recipe, registry).startswith("stages.distill.inputs.teacher: required input")


def test_teacher_loss_in_train_stage(tiny_recipe, registry) -> None:
    _stage(tiny_recipe, "teacher")["losses"] = [{"name": "kd"}]
    message = _error(tiny_recipe, registry)
    assert message.startswith("stages.teacher.losses[0].name: 'kd' needs a teacher")


def test_model_shorthands(tiny_recipe, registry) -> None:
    _stage(tiny_recipe, "teacher")["model"] = {"name": "torchvision.resnet18"}
    _stage(tiny_recipe, "distill")["model"] = {"name": "torch.nn:Identity"}
    plan = recipe.resolve(tiny_recipe, registry)
    assert plan.stages[0].options.model.name == "torchvision"
    assert plan.stages[0].options.model.options["arch"] == "resnet18"
    assert plan.stages[1].options.model.options["target"] == "torch.nn:Identity"


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
    from pathlib import Path

    recipes = sorted(Path(__file__).resolve().parents[2].joinpath("recipes").glob("*.yaml"))
    assert recipes
    for path in recipes:
        recipe.load(path, registry)
