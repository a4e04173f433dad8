"""docs/data.md's examples are what compressor accepts and prints."""

from __future__ import annotations

import re
import shlex
from pathlib import Path
from types import SimpleNamespace

import pytest
import yaml

from compressor.data import prepare_bundle
from compressor.data.workers import explain_death
from compressor.recipe import DataConfig
from compressor.testing import check_dataset, tiny_data_bundle
from tests.compressor.cli.invoke import run_cli
from tests.compressor.data.samples import Corrupt, Images

DOC = (Path(__file__).resolve().parents[2] / "docs" / "data.md").read_text(encoding="utf-8")


def _section(title: str) -> str:
    return DOC.split(f"\n## {title}\n", 1)[1].split("\n## ", 1)[0]


def _blocks(text: str, lang: str) -> list[str]:
    return re.findall(rf"```{lang}\n(.*?)```", text, flags=re.DOTALL)


def test_the_data_sections_are_valid() -> None:
    for block in [_blocks(DOC, "yaml")[0], *_blocks(_section("Preprocessing"), "yaml")]:
        DataConfig.model_validate(yaml.safe_load(block)["data"])


def test_the_streamed_run_command_validates(capsys) -> None:
    argv = shlex.split(_blocks(_section("The two paths"), "bash")[0])
    assert argv[:3] == ["compressor", "run", "quickstart"]
    code, _, err = run_cli(capsys, "validate", *argv[2:])
    assert code == 0, err


def test_the_error_lines_are_what_compressor_says() -> None:
    sample_line, died_line = (b.strip() for b in _blocks(_section("The two paths"), "text")[:2])

    class Truncated(Corrupt):
        def __getitem__(self, index):
            if index == 5:
                raise OSError("image file is truncated")
            return super().__getitem__(index)

    bundle = tiny_data_bundle()
    bundle.train, bundle.val, bundle.test = Truncated(8), Images(3), Images(3)
    with pytest.raises(Exception) as caught:
        prepare_bundle(bundle, SimpleNamespace(in_memory=True, num_workers=0))
    assert sample_line == f"error: {caught.value}"
    died = explain_death(
        RuntimeError("DataLoader worker (pid 3) exited unexpectedly with exit code 1.")
    )
    assert died_line == f"error: {died}"


def test_the_console_line_is_what_a_run_prints(registry) -> None:
    record = registry.get("dataset", "digits")
    bundle = prepare_bundle(record.build(record.options.model_validate({}), seed=0))
    assert bundle.placement.line("digits") in _blocks(_section("Memory budget"), "text")[0]


def test_the_plugin_example_passes_check_dataset() -> None:
    code = _blocks(_section("Preprocessing"), "python")[0]
    namespace: dict = {
        "my_datasets": lambda root, seed: (Images(30), Images(6), Images(9)),
        "CLASSES": [str(i) for i in range(10)],
    }
    exec(compile(code, "docs/data.md", "exec"), namespace)  # noqa: S102 - the doc's own example
    load = lambda options, seed: namespace["load"](SimpleNamespace(root="images"), seed)
    bundle = check_dataset(load, preprocess={"resize": [8, 8], "mean": "auto", "std": "auto"})
    assert bundle.input_shape == (3, 8, 8)
