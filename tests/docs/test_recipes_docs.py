"""docs/recipes.md's examples are what compressor accepts and prints.

Its plugin references are checked against ``compressor schema``'s definitions, its ``--set``
command against ``compressor validate``, and its error lines against the errors compressor
prints for the recipe they describe.
"""

from __future__ import annotations

import re
import shlex
import shutil
from pathlib import Path

import jsonschema
import pytest
import yaml

from compressor.recipe.schema import recipe_schema
from compressor.recipe.shipped import recipes_dir
from tests.compressor.cli.invoke import run_cli

DOC = (Path(__file__).resolve().parents[2] / "docs" / "recipes.md").read_text(encoding="utf-8")


def _section(title: str) -> str:
    return DOC.split(f"\n## {title}\n", 1)[1].split("\n## ", 1)[0]


def _blocks(text: str, lang: str) -> list[str]:
    return re.findall(rf"```{lang}\n(.*?)```", text, flags=re.DOTALL)


#: Which definition of the schema a field naming a plugin is checked against.
REFERENCE_DEFS = {
    "model": "ModelRef",
    "losses": "LossTerm",
    "pruner": "PrunerRef",
    "exporter": "ExporterRef",
}


def test_plugin_reference_examples_pass_the_schema(registry) -> None:
    schema = recipe_schema(registry)
    checked = []
    field = ""
    for block in _blocks(_section("Plugin references"), "yaml"):
        # Line by line: the shorthand block names `model:` twice on purpose.
        for line in block.splitlines():
            parsed = yaml.safe_load(line)
            if isinstance(parsed, dict):
                field, value = next(iter(parsed.items()))
                values = [] if value is None else [value]
            else:
                values = parsed
            for item in values:
                ref = {"$ref": f"#/$defs/{REFERENCE_DEFS[field]}", "$defs": schema["$defs"]}
                errors = [e.message for e in jsonschema.Draft7Validator(ref).iter_errors(item)]
                assert errors == [], f"docs/recipes.md: {line.strip()}: {errors}"
                checked.append(field)
    assert sorted(set(checked)) == sorted(REFERENCE_DEFS)


def test_set_example_is_a_valid_override(capsys) -> None:
    block = _blocks(_section("`--set`: override any field"), "bash")[0]
    argv = shlex.split(block.replace("\\\n", " "))
    assert argv[:3] == ["compressor", "run", "quickstart"]
    code, _, err = run_cli(capsys, "validate", *argv[2:])
    assert code == 0, err


def test_error_examples_are_what_compressor_prints(capsys, tmp_path, monkeypatch) -> None:
    shutil.copy(recipes_dir() / "quickstart.yaml", tmp_path / "r.yaml")
    monkeypatch.chdir(tmp_path)
    documented = _blocks(_section("Errors"), "")[0].splitlines()
    overrides = [
        "stages.prune.ratio=1.0",
        "stages.distill.inputs.teacher=teachr",
        "stages.teacher.losses=[{name: kd}]",
    ]
    assert len(documented) == len(overrides)
    for line, override in zip(documented, overrides):
        code, _, err = run_cli(capsys, "validate", "r.yaml", "--set", override)
        assert code == 2 and err.strip() == line


@pytest.mark.parametrize("block", _blocks(_section("Editor completion"), "yaml"))
def test_the_modeline_example_is_a_yaml_comment_on_the_first_line(block) -> None:
    first = block.splitlines()[0]
    assert re.fullmatch(r"# yaml-language-server: \$schema=\S+", first)
    assert yaml.safe_load(block)["version"] == 1
