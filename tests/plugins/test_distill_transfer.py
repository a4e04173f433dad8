"""The distill stage's unlabelled transfer data, and its teacher outputs kept on disk."""

from __future__ import annotations

import copy
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from compressor import recipe
from compressor.run import pipeline
from compressor.run.cache import StageCache
from compressor.run.teacher_outputs import TEACHER_OUTPUTS_DIR
from tests.compressor.cli.invoke import run_cli
from tests.conftest import TINY_RECIPE

# The recipe's own split options: with another val_fraction, 27 of its validation digits were
# among these 300 rows (the overlap check found it).
TRANSFER = {"dataset": "digits", "skip": 200, "limit": 300}


def two_stages(**distill: Any) -> dict[str, Any]:
    raw = copy.deepcopy(TINY_RECIPE)
    raw["stages"] = raw["stages"][:2]
    raw["stages"][1].update(distill)
    return raw


@pytest.mark.parametrize("mode", ["add", "replace"])
def test_a_tiny_run_distills_on_transfer_data(tmp_path, registry, write_recipe, mode) -> None:
    raw = two_stages(transfer=TRANSFER, transfer_mode=mode, epochs=3)
    result = pipeline.run(recipe.load(write_recipe(raw), registry), registry, tmp_path / "run")
    stage = result.metrics["stages"]["distill"]
    assert stage["transfer_rows"] == 300 and stage["transfer_mode"] == mode
    assert set(stage["teacher_outputs"]) == (
        {"train", "transfer"} if mode == "add" else {"transfer"}
    )
    # Learnt from the teacher alone in replace mode, and still far above chance (10%).
    assert stage["test_accuracy"] > 0.5


def test_transfer_inputs_of_another_shape_are_one_line(tmp_path, capsys, write_recipe) -> None:
    raw = two_stages(transfer={"dataset": "mnist"})
    out = str(tmp_path / "run")
    code, _, err = run_cli(capsys, "run", str(write_recipe(raw)), "--out", out, "--quiet")
    assert code == 2
    line = err.strip().splitlines()[-1]
    assert "stages.distill.transfer" in line and "(1, 28, 28)" in line and "(1, 8, 8)" in line
    assert "Traceback" not in err


@pytest.mark.parametrize(
    ("transfer", "losses", "field"),
    [
        ({"dataset": "digitz"}, None, "stages.distill.transfer.dataset"),
        ({"dataset": "digits", "options": {"val_fraction": 2}}, None, "transfer.options"),
        ({"dataset": "digits"}, [{"name": "ce"}], "needs a loss term that reads the teacher"),
    ],
)
def test_validate_checks_the_transfer_option(capsys, write_recipe, transfer, losses, field) -> None:
    raw = two_stages(transfer=transfer)
    if losses is not None:
        raw["stages"][1]["losses"] = losses
    code, _, err = run_cli(capsys, "validate", str(write_recipe(raw)))
    assert code == 2 and field in err, err


def test_streamed_teacher_outputs_are_reused_by_the_next_run(
    tmp_path: Path, registry, write_recipe, isolated_stage_cache: Path
) -> None:
    raw = two_stages(transfer=TRANSFER)
    raw["data"]["in_memory"] = False
    cache = StageCache(isolated_stage_cache)
    first = pipeline.run(
        recipe.load(write_recipe(raw), registry), registry, tmp_path / "one", cache=cache
    )
    outputs = first.metrics["stages"]["distill"]["teacher_outputs"]
    assert {o["where"] for o in outputs.values()} == {"disk"}
    assert not any(o["reused"] for o in outputs.values())
    assert all(
        Path(o["folder"]).parent.parent.name == TEACHER_OUTPUTS_DIR for o in outputs.values()
    )
    # Another student of the same teacher: the teacher comes from the stage cache, the
    # distill stage runs again and reads the teacher's outputs from disk.
    raw["stages"][1]["epochs"] = 3
    second = pipeline.run(
        recipe.load(write_recipe(raw), registry), registry, tmp_path / "two", cache=cache
    )
    again = second.metrics["stages"]["distill"]["teacher_outputs"]
    assert all(o["reused"] for o in again.values()) and again.keys() == outputs.keys()


def test_every_image_of_an_unlabelled_folder_is_transfer_data_with_split_all(
    tmp_path, registry, write_recipe
) -> None:
    from tests.plugins.image_folders import class_folder, write_image

    photos = class_folder(tmp_path / "photos", {"dark": 10, "light": 10})
    for i in range(23):  # no class subfolders; some one level down
        # Seeds of their own: with the photos' seed 0, loose/0.png was photos/dark/000.png, a
        # held-out row the overlap check (rightly) refused.
        loose = tmp_path / "loose" / ("deeper" if i % 2 else "") / f"{i}.png"
        write_image(loose, shade=40 + i, seed=500 + i)
    raw = two_stages(
        transfer={
            "dataset": "image_folder",
            "options": {"train_root": str(tmp_path / "loose"), "labels": False},
            "split": "all",
        },
        epochs=2,
    )
    raw["data"] = {
        "dataset": "image_folder",
        "options": {"train_root": str(photos)},
        "preprocess": {"resize": [8, 8], "mean": "auto", "std": "auto"},
    }
    raw["stages"][0]["model"] = raw["stages"][1]["model"] = "seed_mlp"
    result = pipeline.run(recipe.load(write_recipe(raw), registry), registry, tmp_path / "run")
    assert result.metrics["stages"]["distill"]["transfer_rows"] == 23


@pytest.mark.parametrize("split", ["test", "all"])
def test_validate_refuses_the_recipes_own_held_out_rows(capsys, write_recipe, split) -> None:
    raw = two_stages(transfer={"dataset": "digits", "split": split})
    code, _, err = run_cli(capsys, "validate", str(write_recipe(raw)))
    assert code == 2 and "stages.distill.transfer.split" in err and "acknowledge_overlap" in err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err


def test_the_recipes_own_data_is_the_same_dataset_and_options_limit_aside() -> None:
    from compressor_stages.transfer_overlap import _own_held_out

    data = SimpleNamespace(dataset="mnist", options={"val_fraction": 0.02, "limit": 500})
    own = SimpleNamespace(dataset="mnist", split="test", options={"val_fraction": 0.02})
    assert _own_held_out(own, data)
    assert not _own_held_out(SimpleNamespace(**{**vars(own), "split": "train"}), data)
    assert not _own_held_out(SimpleNamespace(**{**vars(own), "options": {"root": "x"}}), data)


def _digits(registry, **options: Any):
    record = registry.get("dataset", "digits")
    return record.build(record.options.model_validate(options), seed=0)


def test_held_out_rows_under_other_split_options_are_found_by_content(registry) -> None:
    from compressor_stages.transfer_overlap import count_held_out_rows, held_out_overlap

    from compressor.errors import RecipeError

    data = _digits(registry)  # the recipe's: validation 15%, test 20%
    assert count_held_out_rows(data.train, data) == {"val": 0, "test": 0}
    assert count_held_out_rows(data.test, data) == {"val": 0, "test": len(data.test)}
    # Another val_fraction: the name check cannot see it, but the rows are the same digits.
    other = _digits(registry, val_fraction=0.05).train
    found = count_held_out_rows(other, data)
    assert found is not None and found["val"] > 0
    spec = SimpleNamespace(
        dataset="digits", split="train", options={"val_fraction": 0.05}, acknowledge_overlap=False
    )
    ctx = SimpleNamespace(data=data, info=SimpleNamespace(name="distill"))
    with pytest.raises(RecipeError, match=rf"^stages.distill.transfer: {found['val']} validation"):
        held_out_overlap(ctx, spec, other)
    spec.acknowledge_overlap = True
    assert held_out_overlap(ctx, spec, other) == {
        "acknowledged": True, "checked": "rows", "val_rows": found["val"], "test_rows": 0
    }  # fmt: skip


def test_an_acknowledged_overlap_is_recorded_and_reported(tmp_path, registry, write_recipe) -> None:
    transfer = {"dataset": "digits", "split": "test", "acknowledge_overlap": True}
    raw = two_stages(transfer=transfer, epochs=1)
    raw["stages"][0]["epochs"] = 1
    result = pipeline.run(recipe.load(write_recipe(raw), registry), registry, tmp_path / "run")
    overlap = result.metrics["stages"]["distill"]["transfer_overlap"]
    test_rows = len(_digits(registry).test)
    assert overlap == {
        "acknowledged": True, "checked": "rows", "val_rows": 0, "test_rows": test_rows
    }  # fmt: skip
    report = (tmp_path / "run" / "report.md").read_text(encoding="utf-8")
    assert (
        f"**transfer data overlaps the held-out rows** (acknowledged; 0 validation rows, "
        f"{test_rows} test rows)" in report
    )
