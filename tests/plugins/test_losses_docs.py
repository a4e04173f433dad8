"""docs/losses.md stays true: a section per built-in loss naming its options and inputs, and
every recipe fragment valid against the registry."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from compressor.schemas import LossTerm

LOSSES_MD = (Path(__file__).resolve().parents[2] / "docs" / "losses.md").read_text(encoding="utf-8")
BUILTIN = ["ce", "kd", "mse_logits", "dkd", "dist", "fitnet", "at", "rkd", "pkt", "sp"]
BUILTIN += ["detection", "dense_kd", "pkd"]  # compressor_detection's


def _section(name: str) -> str:
    return LOSSES_MD.split(f"### `{name}`\n", 1)[1].split("\n## ", 1)[0].split("\n### ", 1)[0]


def test_every_builtin_loss_is_listed(registry) -> None:
    builtin = {r.name for r in registry.records("loss") if "(compressor " in r.source}
    assert builtin == set(BUILTIN)


@pytest.mark.parametrize("name", BUILTIN)
def test_each_loss_section_names_its_options_inputs_and_shows_a_recipe(registry, name: str) -> None:
    assert f"### `{name}`\n" in LOSSES_MD, f"docs/losses.md has no section for {name}"
    section = _section(name)
    record = registry.get("loss", name)
    for option in record.options.model_fields:
        if option != "standardize":  # documented once, in its own section
            assert f"`{option}`" in section, f"the {name} section does not document {option!r}"
    assert f"Inputs: {record.inputs}" in section
    assert re.search(rf"name: {name}\b", section), f"the {name} section has no recipe fragment"


def test_every_recipe_fragment_is_valid(registry) -> None:
    blocks = re.findall(r"```yaml\n(.*?)```", LOSSES_MD, re.DOTALL)
    terms = [term for block in blocks for term in yaml.safe_load(block)["losses"]]
    assert {term["name"] for term in terms} == set(BUILTIN)
    for raw in terms:
        term = LossTerm.model_validate(raw)
        record = registry.get("loss", term.name)
        record.options.model_validate(term.options)
        assert term.check(record) == [], (raw, term.check(record))
