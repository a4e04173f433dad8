"""Conflicts and broken plugins at the command line: shown by `plugins`, fatal only where used,
one warning line on `run` when unused."""

from __future__ import annotations

import json

from tests.compressor.cli.invoke import run_cli
from tests.conftest import CHEAP_RECIPE

#: A plugin that registers a loss named like a built-in one, and one of its own.
SHADOW = """
from compressor import hookimpl
from compressor.records import LossPlugin

@hookimpl
def compressor_register_losses():
    return [
        LossPlugin(name="RKD", factory="x:y", description="my rkd"),
        # A factory that imports: validate imports the factory of every loss a recipe uses.
        LossPlugin(name="shadow_own", factory="compressor_losses.logit:MSELogitsLoss.from_options"),
    ]
"""
SHADOW_LABEL = "fake_shadow (shadow-dist 0.3)"
BUILTIN_LABEL = "compressor_losses (compressor 0.1.0)"
MESSAGE = (
    f"loss 'rkd' is registered twice: by {BUILTIN_LABEL} and by {SHADOW_LABEL}; "
    "uninstall or --disable-plugin one of them"
)


def _install_shadow(install_fake_plugin) -> None:
    install_fake_plugin("fake_shadow", SHADOW, dist="shadow-dist", version="0.3")


def test_plugins_shows_a_conflict_and_exits_0(install_fake_plugin, monkeypatch, capsys) -> None:
    _install_shadow(install_fake_plugin)
    code, out, _ = run_cli(capsys, "plugins", "--json")
    assert code == 0
    payload = json.loads(out)
    assert payload["conflicts"] == [
        {
            "kind": "loss",
            "name": "rkd",
            "sources": [BUILTIN_LABEL, SHADOW_LABEL],
            "message": MESSAGE,
        }
    ]
    shadow = next(p for p in payload["plugins"] if p["name"] == "fake_shadow")
    assert shadow["registers"] == {"loss": ["rkd", "shadow_own"]} and shadow["error"] is None
    assert "shadow_own" in [r["name"] for r in payload["registered"]["loss"]]

    monkeypatch.setenv("COLUMNS", "240")  # wide enough that no cell wraps
    code, out, _ = run_cli(capsys, "plugins")
    assert code == 0
    conflicts = out[out.index("conflicts") :]
    assert BUILTIN_LABEL in conflicts and SHADOW_LABEL in conflicts
    assert "uninstall or --disable-plugin one of them" in conflicts
    assert "rkd (conflict)" in out and "compressor_losses, fake_shadow" in out


def test_plugins_shows_an_entry_point_name_declared_twice(install_fake_plugin, capsys) -> None:
    install_fake_plugin("fake_one", "", dist="dist-one", entry_name="shared")
    install_fake_plugin("fake_two", "", dist="dist-two", entry_name="shared")
    code, out, _ = run_cli(capsys, "plugins", "--json")
    payload = json.loads(out)
    assert code == 0
    ((conflict),) = payload["conflicts"]
    assert (conflict["kind"], conflict["name"]) == ("plugin", "shared")
    assert conflict["sources"] == ["dist-one 0.1", "dist-two 0.1"]
    assert "--disable-plugin shared blocks every one" in conflict["message"]
    rows = [p for p in payload["plugins"] if p["name"] == "shared"]
    assert sorted(r["module"] for r in rows) == ["fake_one", "fake_two"]


def test_a_recipe_not_using_the_contested_name_validates(
    install_fake_plugin, tiny_recipe, write_recipe, capsys
) -> None:
    _install_shadow(install_fake_plugin)
    tiny_recipe["stages"][1]["losses"] = [{"name": "shadow_own"}, {"name": "kd"}]
    code, out, err = run_cli(capsys, "validate", str(write_recipe(tiny_recipe)))
    assert code == 0 and "valid recipe 'tiny'" in out and not err, err


def test_a_recipe_using_the_contested_name_fails_naming_both(
    install_fake_plugin, tiny_recipe, write_recipe, capsys
) -> None:
    _install_shadow(install_fake_plugin)
    tiny_recipe["stages"][1]["losses"] = [{"name": "kd"}, {"name": "RKD"}]
    path = str(write_recipe(tiny_recipe))
    for command in ("validate", "run"):
        code, _, err = run_cli(capsys, command, path)
        (line,) = err.strip().splitlines()
        assert code == 2
        assert line == f"error: {path}: stages.distill.losses[1].name: {MESSAGE}"


BROKEN = "raise RuntimeError('boom at import')"
TYPO = """
from compressor import hookimpl

@hookimpl
def compressor_before_stages(stage, context):
    pass
"""


def test_run_warns_once_about_each_unused_problem(
    install_fake_plugin, write_recipe, tmp_path, capsys
) -> None:
    install_fake_plugin("fake_broken", BROKEN, dist="broken-dist", version="9.9")
    install_fake_plugin("fake_typo", TYPO, dist="typo-dist", version="1.0")
    _install_shadow(install_fake_plugin)
    path = str(write_recipe(CHEAP_RECIPE))
    code, _, err = run_cli(capsys, "run", path, "--out", str(tmp_path / "run"), "--quiet")
    assert code == 0
    warnings = sorted(line for line in err.splitlines() if line.startswith("warning:"))
    assert warnings == [
        f"warning: {MESSAGE} (this recipe does not use it)",
        (
            "warning: plugin fake_broken (broken-dist 9.9) is broken and not used: failed to "
            "import fake_broken: RuntimeError: boom at import; `compressor plugins` lists it, "
            "--disable-plugin fake_broken hides it"
        ),
        (
            "warning: plugin fake_typo (typo-dist 1.0) is broken and not used: unknown hook "
            "'compressor_before_stages'; did you mean 'compressor_before_stage'? valid choices: "
            "compressor_after_stage, compressor_before_stage, compressor_on_stage_error, "
            "compressor_register_datasets, compressor_register_exporters, "
            "compressor_register_losses, compressor_register_models, "
            "compressor_register_pruners, compressor_register_stages, compressor_register_tasks; "
            "`compressor plugins` "
            "lists it, --disable-plugin fake_typo hides it"
        ),
    ]
    assert (tmp_path / "run" / "metrics.json").is_file()


def test_the_warnings_go_with_log_level_error(
    install_fake_plugin, write_recipe, tmp_path, capsys
) -> None:
    install_fake_plugin("fake_broken", BROKEN, dist="broken-dist", version="9.9")
    path = str(write_recipe(CHEAP_RECIPE))
    argv = ["--log-level", "error", "run", path, "--out", str(tmp_path / "run"), "--quiet"]
    code, _, err = run_cli(capsys, *argv)
    assert code == 0 and "warning:" not in err
