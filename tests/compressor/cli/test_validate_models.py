"""``compressor validate`` builds every model of every stage and loads every weights file."""

from __future__ import annotations

import torch
from compressor_models.seed import SeedCNN

from tests.compressor.cli.invoke import run_cli

CNN = {"name": "seed_cnn", "options": {"channels": [8, 16], "hidden": 32}}


def _train_and_export(tiny_recipe: dict, model) -> dict:
    # No stage here has a preflight check of its own that would build the model.
    tiny_recipe["stages"] = [
        {"name": "teacher", "type": "train", "model": model, "epochs": 1},
        {"name": "export", "type": "export", "inputs": {"models": ["teacher"]}},
    ]
    return tiny_recipe


def _one_line_error(capsys, *argv: str) -> str:
    code, _, err = run_cli(capsys, *argv)
    assert code == 2, err
    assert err.count("\n") == 1 and "Traceback" not in err
    return err


def test_an_import_target_that_does_not_exist(capsys, tiny_recipe, write_recipe) -> None:
    path = write_recipe(_train_and_export(tiny_recipe, "mymodel:Nope"))
    err = _one_line_error(capsys, "validate", str(path))
    assert "stages.teacher.model: model target 'mymodel:Nope' cannot be imported" in err


def test_a_weights_file_that_is_missing_or_does_not_fit(
    capsys, tiny_recipe, write_recipe, tmp_path
) -> None:
    missing = {**CNN, "weights": str(tmp_path / "absent.pt")}
    path = write_recipe(_train_and_export(tiny_recipe, missing))
    err = _one_line_error(capsys, "validate", str(path))
    assert f"stages.teacher.model.weights: {tmp_path / 'absent.pt'}: no such weights file" in err

    state = SeedCNN((1, 8, 8), 10, channels=[8, 16], hidden=32).state_dict()
    del state["classifier.4.bias"]
    torch.save(state, tmp_path / "partial.pt")
    partial = {**CNN, "weights": str(tmp_path / "partial.pt")}
    path = write_recipe(_train_and_export(tiny_recipe, partial))
    err = _one_line_error(capsys, "validate", str(path))
    assert "missing keys classifier.4.bias); set strict: false" in err
    # run refuses it too, before anything trains or a run folder appears.
    err = _one_line_error(capsys, "run", str(path), "--quiet", "--out", str(tmp_path / "run"))
    assert "stages.teacher.model.weights" in err
    assert not list(tmp_path.glob("*run*"))
    assert (
        run_cli(capsys, "validate", str(path), "--set", "stages.teacher.model.strict=false")[0] == 0
    )


def test_a_width_and_a_head_are_checked_too(capsys, tiny_recipe, write_recipe) -> None:
    path = write_recipe(_train_and_export(tiny_recipe, {**CNN, "width": 1.5}))
    assert "stages.teacher.model.width" in _one_line_error(capsys, "validate", str(path))
    path = write_recipe(_train_and_export(tiny_recipe, {**CNN, "head": "replace"}))
    assert "head: replace needs weights" in _one_line_error(capsys, "validate", str(path))
