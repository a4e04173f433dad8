"""The global options, before the command or after it: --debug, --disable-plugin, -v, --log-level."""

from __future__ import annotations

import json
import logging
import re

import pytest

from compressor.cli import main
from compressor.errors import RecipeError
from tests.compressor.cli.invoke import run_cli


def _blocked(out: str) -> set[str]:
    return {p["name"] for p in json.loads(out)["plugins"] if p["blocked"]}


@pytest.mark.parametrize(
    "argv",
    [
        ["--disable-plugin", "compressor_losses", "plugins", "--json"],
        ["plugins", "--json", "--disable-plugin", "compressor_losses"],
    ],
    ids=["before", "after"],
)
def test_disable_plugin_works_on_either_side(capsys, argv) -> None:
    code, out, _ = run_cli(capsys, *argv)
    assert code == 0 and _blocked(out) == {"compressor_losses"}


def test_disable_plugin_before_and_after_add_up(capsys) -> None:
    code, out, _ = run_cli(
        capsys,
        "--disable-plugin",
        "compressor_losses",
        "--disable-plugin",
        "compressor_exporters",
        "plugins",
        "--json",
        "--disable-plugin",
        "compressor_pruning",
    )
    assert code == 0
    assert _blocked(out) == {"compressor_losses", "compressor_exporters", "compressor_pruning"}


def test_disable_plugin_before_the_command_reaches_validate(
    capsys, tiny_recipe, write_recipe
) -> None:
    path = str(write_recipe(tiny_recipe))
    code, _, err = run_cli(capsys, "--disable-plugin", "compressor_losses", "validate", path)
    assert code == 2 and "(not loaded: compressor_losses (compressor " in err


@pytest.mark.parametrize("before", [True, False], ids=["before", "after"])
def test_debug_on_either_side_shows_the_traceback(tiny_recipe, write_recipe, before) -> None:
    tiny_recipe["seed"] = "x"
    path = str(write_recipe(tiny_recipe))
    argv = ["--debug", "validate", path] if before else ["validate", path, "--debug"]
    with pytest.raises(RecipeError):
        main(argv)


def test_without_debug_the_error_is_one_line(capsys, tiny_recipe, write_recipe) -> None:
    tiny_recipe["seed"] = "x"
    code, _, err = run_cli(capsys, "validate", str(write_recipe(tiny_recipe)))
    assert code == 2 and len(err.strip().splitlines()) == 1 and "Traceback" not in err


def _log_lines(err: str, level: str) -> list[str]:
    return [line for line in err.splitlines() if line.startswith(f"{level} compressor.")]


def test_logging_is_quiet_by_default(capsys) -> None:
    code, out, err = run_cli(capsys, "plugins", "--json")
    assert code == 0 and json.loads(out)["plugins"] and err == ""


@pytest.mark.parametrize(
    "argv",
    [["-v", "plugins", "--json"], ["plugins", "--json", "--verbose"]],
    ids=["before", "after"],
)
def test_verbose_shows_info_lines_of_the_compressor_logger(capsys, argv) -> None:
    code, out, err = run_cli(capsys, *argv)
    assert code == 0 and json.loads(out)["plugins"]  # standard output stays the command's
    summary = r"^info compressor\.plugin\.manager: \d+ plugins: \d+ loaded, 0 broken, 0 blocked$"
    assert re.search(summary, err, re.MULTILINE), err
    assert not _log_lines(err, "debug")


def test_two_v_before_and_after_add_up_to_debug(capsys) -> None:
    code, _, err = run_cli(capsys, "-v", "plugins", "--json", "-v")
    assert code == 0 and _log_lines(err, "info")
    assert any(
        line.startswith("debug compressor.plugin.manager: plugin compressor_losses (compressor ")
        for line in _log_lines(err, "debug")
    )


def test_log_level_wins_over_verbose_and_after_wins_over_before(capsys) -> None:
    code, _, err = run_cli(capsys, "-vv", "--log-level", "debug", "plugins", "--log-level", "ERROR")
    assert code == 0 and err == ""
    code, _, err = run_cli(capsys, "--log-level", "INFO", "plugins", "--json")
    assert code == 0 and _log_lines(err, "info") and not _log_lines(err, "debug")


def test_an_unknown_log_level_lists_the_choices(capsys) -> None:
    with pytest.raises(SystemExit) as excinfo:
        main(["--log-level", "loud", "plugins"])
    err = capsys.readouterr().err
    assert excinfo.value.code == 2
    assert "invalid choice: 'loud' (choose from 'debug', 'info', 'warning', 'error')" in err


def test_a_command_leaves_the_compressor_logger_as_it_found_it(capsys) -> None:
    logger = logging.getLogger("compressor")
    before = (logger.level, list(logger.handlers), logger.propagate)
    run_cli(capsys, "-vv", "plugins", "--json")
    assert (logger.level, list(logger.handlers), logger.propagate) == before
