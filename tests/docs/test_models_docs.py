"""docs/models.md's examples are recipes compressor accepts, and its errors what it prints."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import torch
import torchvision
import yaml

from compressor import recipe
from tests.compressor.cli.invoke import run_cli

DOC = (Path(__file__).resolve().parents[2] / "docs" / "models.md").read_text(encoding="utf-8")
STAGE_BLOCKS = [
    b for b in re.findall(r"```yaml\n(.*?)```", DOC, flags=re.DOTALL) if b.startswith("- name:")
]
TEACHER = {"name": "teacher", "type": "train", "model": "seed_mlp", "epochs": 1}


def _recipe(stages: list[dict]) -> dict:
    if (
        any("teacher" in str(s.get("inputs", {})) for s in stages)
        and stages[0]["name"] != "teacher"
    ):
        stages = [TEACHER, *stages]
    return {"version": 1, "name": "doc", "data": {"dataset": "mnist"}, "stages": stages}


def test_there_are_examples() -> None:
    assert len(STAGE_BLOCKS) >= 9


@pytest.mark.parametrize("block", STAGE_BLOCKS, ids=lambda b: b.splitlines()[0][8:])
def test_every_stage_example_validates(registry, block) -> None:
    recipe.resolve(_recipe(yaml.safe_load(block)), registry)


def test_the_head_error_is_what_compressor_prints(
    capsys, tmp_path, write_recipe, monkeypatch
) -> None:
    torch.save(torchvision.models.resnet18(num_classes=1000).state_dict(), tmp_path / "resnet18.pt")
    line = next(x for x in DOC.splitlines() if x.startswith("error: stages.tuned.model.head"))
    stage = {
        "name": "tuned",
        "type": "train",
        "model": {"name": "torchvision.resnet18", "weights": "resnet18.pt"},
    }
    path = write_recipe({**_recipe([stage]), "data": {"dataset": "digits"}})
    monkeypatch.chdir(tmp_path)  # the example's relative weights path
    code, _, err = run_cli(capsys, "validate", str(path))
    assert code == 2
    assert err.strip() == f"error: {path}: {line.removeprefix('error: ')}"
