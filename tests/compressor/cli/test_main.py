"""The command line as a whole: exit codes, one-line errors, tracebacks only with --debug."""

from __future__ import annotations

import pytest

from compressor.cli import main
from tests.compressor.cli.invoke import run_cli


@pytest.mark.parametrize(
    ("mutate", "expected"),
    [
        (lambda r: r.update(stagez=1), "stagez: unknown key"),
        (lambda r: r["stages"][1].update(epochs=-3), "stages.distill.epochs: invalid value -3"),
        (lambda r: r["data"].update(dataset="cifar"), "data.dataset: unknown dataset 'cifar'"),
    ],
)
def test_bad_recipe_exits_2_with_one_line(
    capsys, tiny_recipe, write_recipe, mutate, expected
) -> None:
    mutate(tiny_recipe)
    path = write_recipe(tiny_recipe)
    for command in ("validate", "run"):
        code, _, err = run_cli(capsys, command, str(path))
        assert code == 2
        lines = err.strip().splitlines()
        assert len(lines) == 1 and expected in lines[0] and "Traceback" not in err


def test_missing_file_and_bad_set(capsys, tmp_path, tiny_recipe, write_recipe) -> None:
    code, _, err = run_cli(capsys, "validate", str(tmp_path / "absent.yaml"))
    assert code == 2 and "recipe file not found" in err
    path = write_recipe(tiny_recipe)
    code, _, err = run_cli(capsys, "validate", str(path), "--set", "stages.nope.epochs=1")
    assert code == 2 and "no entry named 'nope'" in err


def test_debug_shows_the_traceback(tiny_recipe, write_recipe) -> None:
    from compressor.errors import RecipeError

    tiny_recipe["seed"] = "x"
    with pytest.raises(RecipeError):
        main(["validate", str(write_recipe(tiny_recipe)), "--debug"])
