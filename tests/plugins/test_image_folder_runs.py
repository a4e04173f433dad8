"""``image_folder`` through the CLI: bad input is one line and exit 2 with nothing written, and
a real tiny run gives the same figures held in memory and streamed through two workers."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.compressor.cli.invoke import run_cli
from tests.plugins.image_folders import class_folder, truncated_jpeg, write_image

HERE = "tests.plugins.test_image_folder_runs"


def _recipe(train_root: Path, **options: Any) -> dict[str, Any]:
    return {
        "version": 1,
        "name": "folder",
        "seed": 0,
        "device": "cpu",
        "data": {
            "dataset": "image_folder",
            "options": {"train_root": str(train_root), **options},
            "batch_size": 8,
            "preprocess": {"resize": [12, 12], "mean": "auto", "std": "auto"},
        },
        "stages": [
            {
                "name": "model",
                "type": "train",
                "model": {"name": "seed_cnn", "options": {"channels": [4, 8], "hidden": 16}},
                "epochs": 1,
                "optimizer": {"lr": 0.01},
            }
        ],
    }


def _fails_cleanly(capsys, write_recipe, tmp_path: Path, recipe: dict[str, Any]) -> str:
    """Run ``validate`` and ``run``: both exit 2 with the same one line, and no run folder.

    Returns:
        The line, without ``error: `` and the recipe file that recipe errors start with.
    """
    path = write_recipe(recipe)
    lines = []
    for command in (["validate", str(path)], ["run", str(path), "--out", str(tmp_path / "run")]):
        code, out, err = run_cli(capsys, *command)
        assert code == 2, (command, out, err)
        assert err.count("\n") == 1 and err.startswith("error: "), err
        assert "Traceback" not in err
        lines.append(err.strip())
    assert lines[0] == lines[1]
    assert not any(tmp_path.glob("*run*")), list(tmp_path.iterdir())
    return lines[0].removeprefix("error: ").removeprefix(f"{path}: ")


def test_a_missing_root(capsys, write_recipe, tmp_path) -> None:
    message = _fails_cleanly(capsys, write_recipe, tmp_path, _recipe(tmp_path / "photos"))
    assert message == f"data.options.train_root: folder not found: {tmp_path / 'photos'}"


def test_an_empty_folder_and_an_empty_class_folder(capsys, write_recipe, tmp_path) -> None:
    (tmp_path / "empty").mkdir()
    message = _fails_cleanly(capsys, write_recipe, tmp_path, _recipe(tmp_path / "empty"))
    assert message.startswith(f"data.options.train_root: {tmp_path / 'empty'} is empty; put")
    root = class_folder(tmp_path / "train", {"a": 5, "b": 5})
    (root / "c").mkdir()
    message = _fails_cleanly(capsys, write_recipe, tmp_path, _recipe(root))
    assert message.startswith(f"data.options.train_root: class folder {root / 'c'} holds no")


def test_train_and_val_with_other_classes(capsys, write_recipe, tmp_path) -> None:
    train = class_folder(tmp_path / "train", {"a": 5, "b": 5})
    val = class_folder(tmp_path / "val", {"a": 2, "c": 2})
    message = _fails_cleanly(capsys, write_recipe, tmp_path, _recipe(train, val_root=str(val)))
    assert "(only in train_root: b; only in val_root: c)" in message


def test_a_truncated_image_is_named_or_skipped_and_counted(capsys, write_recipe, tmp_path):
    root = class_folder(tmp_path / "train", {"a": 8, "b": 8})
    bad = truncated_jpeg(root / "a" / "broken.jpg")
    message = _fails_cleanly(capsys, write_recipe, tmp_path, _recipe(root))
    assert message.startswith(f"{bad}: cannot read the image (OSError: ")
    path = write_recipe(_recipe(root, skip_unreadable=True))
    code, _, err = run_cli(capsys, "run", str(path), "--out", str(tmp_path / "skipped"), "--quiet")
    assert code == 0, err
    metrics = json.loads((tmp_path / "skipped" / "metrics.json").read_text())
    assert metrics["data"]["skipped_unreadable"] == 1
    assert sum(metrics["data"]["sizes"].values()) == 16


def returns_a_path(root: str) -> str:
    return root


def test_an_import_factory_that_returns_no_dataset(capsys, write_recipe, tmp_path) -> None:
    recipe = _recipe(tmp_path)
    recipe["data"]["dataset"] = "import"
    recipe["data"]["options"] = {"factory": f"{HERE}:returns_a_path", "kwargs": {"root": "x"}}
    message = _fails_cleanly(capsys, write_recipe, tmp_path, recipe)
    assert message.startswith(
        f"data.options.factory: {HERE}:returns_a_path returned str; it must return a map-style "
        "torch.utils.data.Dataset of (sample, label)"
    )


@pytest.fixture(scope="module")
def mixed_folder(tmp_path_factory) -> Path:
    """Three classes of 24 images each, PNG and JPEG, colour, grey and palette, any size."""
    root = class_folder(tmp_path_factory.mktemp("mixed") / "train", {"r": 24, "g": 24, "b": 24})
    for i, mode in enumerate(["L", "P", "RGBA", "RGB"]):
        write_image(
            root / "g" / f"extra_{i}.jpg" if mode in "LRGB" else root / "g" / f"x{i}.png",
            mode,
            (20 + i, 14),
            shade=120,
            seed=i,
        )
    return root


def test_a_tiny_run_gives_the_same_figures_in_memory_and_streamed(
    capsys, write_recipe, tmp_path, mixed_folder
) -> None:
    path = write_recipe(_recipe(mixed_folder, val_fraction=0.2, test_fraction=0.2))
    figures = []
    for in_memory, workers in (("true", 0), ("false", 2)):
        out = tmp_path / f"run_{in_memory}"
        code, _, err = run_cli(
            capsys, "run", str(path), "--out", str(out), "--quiet", "--no-cache",
            "--set", f"data.in_memory={in_memory}", "--set", f"data.num_workers={workers}",
        )  # fmt: skip
        assert code == 0, err
        metrics = json.loads((out / "metrics.json").read_text())
        assert metrics["data"]["in_memory"] is (in_memory == "true")
        assert metrics["data"]["input_shape"] == [3, 12, 12]
        assert metrics["data"]["sizes"] == {"train": 45, "val": 16, "test": 15}
        stage = metrics["stages"]["model"]
        history = [{k: v for k, v in e.items() if k != "seconds"} for e in stage["history"]]
        figures.append((stage["test_accuracy"], stage["val_accuracy"], history))
    assert figures[0] == figures[1]
    assert figures[0][2][0]["loss"] > 0
