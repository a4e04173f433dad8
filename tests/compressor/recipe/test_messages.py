"""Recipe fields the pydantic models reject: one line naming the field, the value and the choices."""

from __future__ import annotations

import pytest

from tests.compressor.recipe.expect import error_of, stage_of


def test_unknown_top_level_key(tiny_recipe, registry) -> None:
    tiny_recipe["stagez"] = []
    message = error_of(tiny_recipe, registry)
    assert message.startswith("stagez: unknown key")
    assert "did you mean 'stages'" in message


def test_missing_and_wrong_version(tiny_recipe, registry) -> None:
    del tiny_recipe["version"]
    assert error_of(tiny_recipe, registry).startswith("version: required field is missing")
    tiny_recipe["version"] = 2
    assert "version: invalid value 2" in error_of(tiny_recipe, registry)


@pytest.mark.parametrize(
    ("mutate", "field", "value"),
    [
        (lambda r: stage_of(r, "teacher").update(epochs=-1), "stages.teacher.epochs", "-1"),
        (lambda r: stage_of(r, "teacher").update(epochs="many"), "stages.teacher.epochs", "'many'"),
        (
            lambda r: stage_of(r, "distill").update(
                losses=[{"name": "kd", "options": {"temperature": 0}}]
            ),
            "stages.distill.losses[0].options.temperature",
            "0",
        ),
        (lambda r: stage_of(r, "prune").update(ratio=1.0), "stages.prune.ratio", "1.0"),
        (lambda r: stage_of(r, "prune").update(ratio=-0.1), "stages.prune.ratio", "-0.1"),
        (lambda r: stage_of(r, "prune").update(target_macs=1.5), "stages.prune.target_macs", "1.5"),
        (
            lambda r: stage_of(r, "prune").update(ratios={"hidden.0": 1.0}),
            "stages.prune.ratios.hidden.0",
            "1.0",
        ),
        (lambda r: r.update(device="gpu"), "device", "'gpu'"),
        (lambda r: r["data"].update(batch_size=0), "data.batch_size", "0"),
    ],
)
def test_wrong_types_and_ranges(tiny_recipe, registry, mutate, field, value) -> None:
    mutate(tiny_recipe)
    message = error_of(tiny_recipe, registry)
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
            lambda r: stage_of(r, "teacher").update(name="-teacher"),
            "stages[0].name: invalid value '-teacher': expected letters",
        ),
        (
            lambda r: stage_of(r, "teacher").update(
                model={"name": "import", "options": {"target": "nets.TinyNet"}}
            ),
            "stages.teacher.model.options.target: invalid value 'nets.TinyNet': expected package.module:attr",
        ),
    ],
)
def test_patterns_are_explained_in_words(tiny_recipe, registry, mutate, expected) -> None:
    # A field's regular expression is no help to a user; its `expected` text is.
    mutate(tiny_recipe)
    message = error_of(tiny_recipe, registry)
    assert message.startswith(expected)
    assert "pattern" not in message and "^" not in message
