"""docs/data.md's "Datasets" section: every option documented, examples valid, errors real."""

from __future__ import annotations

import re
import sys
import types
from pathlib import Path

import pytest
import yaml

from compressor.recipe import DataConfig
from tests.compressor.cli.invoke import run_cli
from tests.plugins.image_folders import class_folder, truncated_jpeg

DOC = (Path(__file__).resolve().parents[2] / "docs" / "data.md").read_text(encoding="utf-8")
SECTION = DOC.split("\n## Datasets\n", 1)[1].split("\n## ", 1)[0]
DATASETS = ("digits", "mnist", "image_folder", "torchvision", "import")


def _subsection(name: str) -> str:
    return SECTION.split(f"\n### `{name}`\n", 1)[1].split("\n### ", 1)[0]


def _blocks(text: str, lang: str) -> list[str]:
    return re.findall(rf"```{lang}\n(.*?)```", text, flags=re.DOTALL)


@pytest.mark.parametrize("name", DATASETS)
def test_every_option_is_documented_and_the_example_validates(registry, name: str) -> None:
    text = _subsection(name)
    options = registry.get("dataset", name).options
    missing = [field for field in options.model_fields if f"`{field}`" not in text]
    assert not missing, f"docs/data.md, {name}: options not documented: {missing}"
    data = yaml.safe_load(_blocks(text, "yaml")[0])["data"]
    assert data["dataset"] == name
    options.model_validate(data.get("options", {}))
    DataConfig.model_validate(data)


def test_the_image_folder_errors_are_what_compressor_says(capsys, tmp_path, monkeypatch):
    from compressor_datasets import IMAGE_EXTENSIONS

    monkeypatch.chdir(tmp_path)  # the doc's paths are relative: train_root: photos
    lines = _blocks(_subsection("image_folder"), "text")[1].strip().splitlines()
    options = {"train_root": "photos"}
    recipe = {
        "version": 1,
        "name": "image_folder",
        "data": {"dataset": "image_folder", "options": options},
        "stages": [{"name": "model", "type": "train", "model": "seed_mlp"}],
    }

    def said() -> str:
        Path("image_folder.yaml").write_text(yaml.safe_dump(recipe))
        code, _, err = run_cli(capsys, "validate", "image_folder.yaml")
        assert code == 2
        return err.strip()

    assert said() == lines[0]
    class_folder(Path("photos"), {"cats": 20, "dogs": 6})
    Path("photos/birds").mkdir()
    assert said() == lines[1].replace(".jpg, ...", ", ".join(IMAGE_EXTENSIONS))
    class_folder(Path("photos"), {"birds": 6})
    class_folder(Path("photos_val"), {"cats": 2, "dogs": 2, "bird": 2})
    options["val_root"] = "photos_val"
    assert said() == lines[2]
    del options["val_root"]
    truncated_jpeg(Path("photos/cats/017.jpg"))
    assert said() == lines[3]


def test_the_torchvision_line_is_what_compressor_says(registry) -> None:
    from compressor.errors import UsageError

    record = registry.get("dataset", "torchvision")
    line = _blocks(_subsection("torchvision"), "text")[0].strip()
    options = record.options.model_validate({"name": "CIFAR10", "root": "/home/me/data/cifar"})
    with pytest.raises(UsageError) as caught:
        record.build(options, seed=0)
    assert line == f"error: {caught.value}"


def test_the_import_line_is_what_compressor_says(registry, monkeypatch) -> None:
    from compressor.errors import RecipeError

    module = types.ModuleType("my_data")
    module.scans = lambda folder: folder  # returns the path it was given: a str
    monkeypatch.setitem(sys.modules, "my_data", module)
    record = registry.get("dataset", "import")
    example = yaml.safe_load(_blocks(_subsection("import"), "yaml")[0])["data"]["options"]
    with pytest.raises(RecipeError) as caught:
        record.build(record.options.model_validate(example), seed=0)
    assert _blocks(_subsection("import"), "text")[0].strip() == f"error: {caught.value}"
