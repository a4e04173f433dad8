"""Resolving a recipe: plugin names, their options, slots and the artifact flow, one line per error."""

from __future__ import annotations

import pytest

from compressor import recipe
from tests.compressor.recipe.expect import error_of, stage_of


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
    node = stage_of(tiny_recipe, where)
    if key[0] == "losses":
        node["losses"] = [{"name": "kd"}]
    for part in key[:-1]:
        node = node[part]
    node[key[-1]] = bad
    message = error_of(tiny_recipe, registry)
    assert message.startswith(field + ": unknown")
    assert expected in message and "valid choices:" in message


def test_unknown_dataset(tiny_recipe, registry) -> None:
    tiny_recipe["data"]["dataset"] = "digitz"
    message = error_of(tiny_recipe, registry)
    assert message.startswith("data.dataset: unknown dataset 'digitz'")
    assert "did you mean 'digits'" in message


def test_prune_goals_are_exclusive(tiny_recipe, registry) -> None:
    stage_of(tiny_recipe, "prune").update(ratio=0.5, target_macs=0.5)
    message = error_of(tiny_recipe, registry)
    assert (
        message
        == "stages.prune: give only one of ratio, target_macs, target_params (got ratio, target_macs)"
    )
    del stage_of(tiny_recipe, "prune")["ratio"], stage_of(tiny_recipe, "prune")["target_macs"]
    plan = recipe.resolve(tiny_recipe, registry)
    assert plan.stages[2].options.ratio == 0.5  # the default goal


def test_unknown_stage_option_lists_valid_keys(tiny_recipe, registry) -> None:
    stage_of(tiny_recipe, "distill")["epoch"] = 3
    message = error_of(tiny_recipe, registry)
    assert message.startswith("stages.distill.epoch: unknown key")
    assert "did you mean 'epochs'" in message and "inputs" in message


def test_unknown_plugin_option(tiny_recipe, registry) -> None:
    stage_of(tiny_recipe, "distill")["losses"] = [{"name": "kd", "options": {"temprature": 2}}]
    message = error_of(tiny_recipe, registry)
    assert message.startswith("stages.distill.losses[0].options.temprature: unknown key")
    assert "did you mean 'temperature'" in message


def test_input_not_produced_by_an_earlierstage_of(tiny_recipe, registry) -> None:
    stage_of(tiny_recipe, "distill")["inputs"] = {"teacher": "teachr"}
    message = error_of(tiny_recipe, registry)
    assert message.startswith("stages.distill.inputs.teacher: artifact 'teachr' is not produced")
    assert "did you mean 'teacher'" in message


def test_input_produced_only_later_is_anerror_of(tiny_recipe, registry) -> None:
    tiny_recipe["stages"].insert(0, tiny_recipe["stages"].pop(1))  # distill before its teacher
    assert "artifact 'teacher' is not produced by any earlier stage" in error_of(
        tiny_recipe, registry
    )


def test_two_stages_writing_the_same_artifact(tiny_recipe, registry) -> None:
    stage_of(tiny_recipe, "prune")["outputs"] = {"model": "student_distilled"}
    message = error_of(tiny_recipe, registry)
    assert message.startswith("stages.prune.outputs.model: artifact 'student_distilled' is already")
    assert "'distill'" in message


def test_duplicate_stage_names(tiny_recipe, registry) -> None:
    stage_of(tiny_recipe, "distill")["name"] = "teacher"
    assert "duplicate stage name 'teacher'" in error_of(tiny_recipe, registry)


def test_unknown_and_missing_slots(tiny_recipe, registry) -> None:
    stage_of(tiny_recipe, "distill")["inputs"] = {"teachers": "teacher"}
    message = error_of(tiny_recipe, registry)
    assert message.startswith("stages.distill.inputs.teachers: unknown input slot")
    assert "did you mean 'teacher'" in message
    stage_of(tiny_recipe, "distill")["inputs"] = {}
    assert error_of(tiny_recipe, registry).startswith(
        "stages.distill.inputs.teacher: required input"
    )


def test_teacher_loss_in_trainstage_of(tiny_recipe, registry) -> None:
    stage_of(tiny_recipe, "teacher")["losses"] = [{"name": "kd"}]
    message = error_of(tiny_recipe, registry)
    assert message.startswith("stages.teacher.losses[0].name: 'kd' needs a teacher")


def test_model_shorthands(tiny_recipe, registry) -> None:
    stage_of(tiny_recipe, "teacher")["model"] = {"name": "torchvision.resnet18"}
    stage_of(tiny_recipe, "distill")["model"] = {"name": "torch.nn:Identity"}
    plan = recipe.resolve(tiny_recipe, registry)
    assert plan.stages[0].options.model.name == "torchvision"
    assert plan.stages[0].options.model.options["arch"] == "resnet18"
    assert plan.stages[1].options.model.options["target"] == "torch.nn:Identity"
