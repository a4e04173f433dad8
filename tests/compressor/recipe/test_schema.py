"""The recipe JSON Schema: every shipped recipe passes it, broken ones do not, plugins shape it.

The schema is what editors check recipes with, so it must agree with the validator: what it
rejects here, ``compressor.recipe.resolve`` rejects too.
"""

from __future__ import annotations

import copy
import types
from importlib.resources import files
from typing import Any

import jsonschema
import pytest
import yaml
from pydantic import Field

from compressor import hookimpl, recipe
from compressor.errors import RecipeError
from compressor.plugin.registry import Registry
from compressor.recipe.schema import recipe_schema
from compressor.records import Role, StagePlugin
from compressor.schemas import LossTerm, StrictModel


@pytest.fixture(scope="module")
def validator(registry: Registry) -> jsonschema.Draft7Validator:
    schema = recipe_schema(registry)
    jsonschema.Draft7Validator.check_schema(schema)
    return jsonschema.Draft7Validator(schema)


def _shipped() -> dict[str, dict[str, Any]]:
    # Read through the package (importlib.resources), as an installed wheel would be read.
    folder = files("compressor").joinpath("recipes")
    return {
        entry.name: yaml.safe_load(entry.read_text(encoding="utf-8"))
        for entry in folder.iterdir()
        if entry.name.endswith(".yaml")
    }


def _errors(validator: jsonschema.Draft7Validator, raw: dict[str, Any]) -> list[str]:
    return [
        f"{'.'.join(map(str, e.absolute_path))}: {e.message}" for e in validator.iter_errors(raw)
    ]


def test_every_shipped_recipe_validates(validator) -> None:
    shipped = _shipped()
    assert {"quickstart.yaml", "deployment.yaml", "mnist_seed.yaml", "image_folder.yaml"} <= set(
        shipped
    )
    for name, raw in shipped.items():
        assert _errors(validator, raw) == [], name


def _stage(raw: dict[str, Any], name: str) -> dict[str, Any]:
    return next(s for s in raw["stages"] if s.get("name", s["type"]) == name)


BROKEN = {
    "unknown stage type": (
        lambda r: _stage(r, "teacher").update(type="trian"),
        "stages.0.type: 'trian' is not one of",
    ),
    "unknown loss name": (
        lambda r: _stage(r, "distill")["losses"][0].update(name="kdd"),
        "stages.1.losses.0.name: 'kdd' is not one of",
    ),
    "wrong option type": (
        lambda r: _stage(r, "distill").update(epochs="many"),
        "stages.1.epochs: 'many' is not of type 'integer'",
    ),
    "missing version": (lambda r: r.pop("version"), ": 'version' is a required property"),
    "a loss's own option, mistyped": (
        lambda r: _stage(r, "distill")["losses"][0]["options"].update(temperature="hot"),
        "losses.0.options.temperature: 'hot' is not of type 'number'",
    ),
    "an unknown key among a stage's options": (
        lambda r: _stage(r, "distill").update(epoch=3),
        "'epoch' was unexpected",
    ),
    "an unknown input slot": (
        lambda r: _stage(r, "distill")["inputs"].update(teachr="teacher"),
        "'teachr' was unexpected",
    ),
    "a required input left out": (
        lambda r: _stage(r, "distill").pop("inputs"),
        "stages.1: 'inputs' is a required property",
    ),
    "unknown dataset": (
        lambda r: r["data"].update(dataset="cifar"),
        "data.dataset: 'cifar' is not one of ['audio_folder', 'coco', 'digits', 'image_folder', 'import', 'mnist', 'mnist_detection', 'speech_commands', 'spoken_digits', 'torchvision', 'voc']",
    ),
    "a dataset option out of range": (
        lambda r: r["data"]["options"].update(val_fraction=1.5),
        "data.options.val_fraction: 1.5 is",
    ),
    "unknown pruner": (
        lambda r: _stage(r, "prune")["pruner"].update(name="magnitud"),
        "pruner.name: 'magnitud' is not one of",
    ),
    "unknown model, as a bare name": (
        lambda r: _stage(r, "distill").update(model="seed_mpl"),
        "stages.1.model: 'seed_mpl' is not one of",
    ),
    "a model option the model does not have": (
        lambda r: _stage(r, "distill")["model"]["options"].update(hiden=[3]),
        "'hiden' was unexpected",
    ),
}


@pytest.mark.parametrize("case", sorted(BROKEN))
def test_broken_recipes_are_rejected_by_schema_and_validator(validator, registry, case) -> None:
    mutate, expected = BROKEN[case]
    raw = copy.deepcopy(_shipped()["quickstart.yaml"])
    mutate(raw)
    errors = _errors(validator, raw)
    assert any(expected in e for e in errors), errors
    with pytest.raises(RecipeError):
        recipe.resolve(raw, registry)


@pytest.mark.parametrize(
    "model",
    [
        "seed_mlp",
        {"name": "torchvision.resnet18"},
        {"name": "timm.resnet18", "weights": "DEFAULT", "head": "replace", "width": 0.5},
        "my_package.nets:TinyNet",
        {"name": "my_package.nets:TinyNet", "options": {"width": 32}},
    ],
)
def test_model_shorthands_are_accepted_as_the_validator_accepts_them(
    validator, registry, model
) -> None:
    raw = copy.deepcopy(_shipped()["quickstart.yaml"])
    _stage(raw, "distill")["model"] = model
    assert _errors(validator, raw) == []
    recipe.resolve(raw, registry)


def test_choices_carry_descriptions_and_defaults(registry) -> None:
    schema = recipe_schema(registry)
    stage = schema["$defs"]["StageConfig"]
    stage_type = stage["properties"]["type"]
    assert stage_type["enum"] == registry.names("stage")
    assert stage_type["enumDescriptions"] == [r.description for r in registry.records("stage")]
    distill = next(
        b["then"] for b in stage["allOf"] if b["if"]["properties"]["type"]["const"] == "distill"
    )
    assert distill["properties"]["epochs"]["default"] == 20
    assert distill["properties"]["inputs"]["required"] == ["teacher"]
    assert "Compute the teacher's outputs" in distill["properties"]["cache_teacher"]["description"]
    loss = schema["$defs"]["LossTerm"]
    kd = next(b["then"] for b in loss["allOf"] if b["if"]["properties"]["name"]["const"] == "kd")
    kd_options = schema["$defs"][kd["properties"]["options"]["$ref"].rsplit("/", 1)[1]]
    assert kd_options["properties"]["temperature"]["default"] == 4.0


class FocalStageOptions(StrictModel):
    """``focal``: a third party's stage."""

    gamma: float = Field(default=2.0, ge=0.0, description="Focusing parameter.")
    losses: list[LossTerm] = Field(default_factory=list)


@hookimpl
def compressor_register_stages() -> list[StagePlugin]:
    return [
        StagePlugin(
            name="focal-train",
            factory="nowhere:Stage",
            options=FocalStageOptions,
            inputs={"model": Role("the model")},
            description="A third party's stage.",
        )
    ]


def test_a_third_party_stage_is_a_choice_with_its_options(registry) -> None:
    plugin = types.SimpleNamespace(compressor_register_stages=compressor_register_stages)
    extended = Registry.load(extra_plugins=[("focal", plugin)])
    checker = jsonschema.Draft7Validator(recipe_schema(extended))
    raw = copy.deepcopy(_shipped()["quickstart.yaml"])
    # The registry's normalized name is the one the schema offers.
    focal = {"type": "focal_train", "inputs": {"model": "student"}, "gamma": 1.0}
    raw["stages"].append({**focal, "losses": [{"name": "ce"}]})
    assert _errors(checker, raw) == []
    raw["stages"][-1]["gamma"] = -1
    assert any("gamma: -1 is less than the minimum of 0.0" in e for e in _errors(checker, raw))
    raw["stages"][-1] = {**focal, "losses": [{"name": "nope"}]}
    assert any("losses.0.name: 'nope' is not one of" in e for e in _errors(checker, raw))
    # The schema of the plain registry does not know the stage.
    assert _errors(jsonschema.Draft7Validator(recipe_schema(registry)), raw)
