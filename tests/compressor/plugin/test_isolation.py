"""Broken third-party plugins at the command line: listed, named in errors, never fatal to others."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from compressor.cli import main
from compressor.plugin.registry import Registry
from tests.conftest import CHEAP_RECIPE

BROKEN_IMPORT = "raise RuntimeError('boom at import')"


def _run(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out = capsys.readouterr()
    return code, out.out, out.err


def _write(tmp_path: Path, recipe: dict) -> str:
    path = tmp_path / "recipe.yaml"
    path.write_text(yaml.safe_dump(recipe, sort_keys=False))
    return str(path)


def test_plugins_lists_a_plugin_that_fails_to_import(
    install_fake_plugin, monkeypatch, capsys
) -> None:
    install_fake_plugin("fake_broken", BROKEN_IMPORT, dist="broken-dist", version="9.9")
    code, out, _ = _run(capsys, "plugins", "--json")
    assert code == 0
    rows = {p["name"]: p for p in json.loads(out)["plugins"]}
    broken = rows["fake_broken"]
    assert (broken["distribution"], broken["version"]) == ("broken-dist", "9.9")
    assert "RuntimeError: boom at import" in broken["error"] and broken["registers"] == {}
    assert rows["compressor_losses"]["error"] is None

    monkeypatch.setenv("COLUMNS", "240")  # wide enough that no cell wraps
    code, out, _ = _run(capsys, "plugins")
    assert code == 0 and "fake_broken" in out and "broken-dist 9.9" in out
    assert "broken: failed to import fake_broken: RuntimeError: boom at import" in out


def test_recipe_needing_the_broken_plugin_names_it(
    install_fake_plugin, tiny_recipe, tmp_path, capsys
) -> None:
    install_fake_plugin("fake_broken", BROKEN_IMPORT, dist="broken-dist", version="9.9")
    tiny_recipe["stages"][1]["losses"] = [{"name": "cosine"}]
    code, _, err = _run(capsys, "validate", _write(tmp_path, tiny_recipe))
    lines = err.strip().splitlines()
    assert code == 2 and len(lines) == 1
    assert "stages.distill.losses[0].name: unknown loss 'cosine'" in lines[0]
    assert "not loaded: fake_broken (broken-dist 9.9)" in lines[0]


def test_recipe_not_needing_it_validates(
    install_fake_plugin, tiny_recipe, tmp_path, capsys
) -> None:
    install_fake_plugin("fake_broken", BROKEN_IMPORT, dist="broken-dist", version="9.9")
    code, out, err = _run(capsys, "validate", _write(tmp_path, tiny_recipe))
    assert code == 0 and "valid recipe 'tiny'" in out and not err


def test_hook_returning_a_single_record_is_reported(install_fake_plugin) -> None:
    install_fake_plugin(
        "fake_single",
        """
        from compressor import hookimpl
        from compressor.records import LossPlugin
        @hookimpl
        def compressor_register_losses():
            return LossPlugin(name="solo", factory="x:y")
        """,
        dist="single-dist",
    )
    registry = Registry.load()
    assert (
        "returned LossPlugin; expected a list of LossPlugin"
        in registry.pm.infos["fake_single"].error
    )
    assert "kd" in registry.names("loss") and "solo" not in registry.names("loss")


def test_blocked_plugin_is_named_when_its_name_is_used(tiny_recipe, tmp_path, capsys) -> None:
    code, _, err = _run(
        capsys, "validate", _write(tmp_path, tiny_recipe), "--disable-plugin", "compressor_losses"
    )
    assert code == 2
    assert "unknown loss 'ce' (not loaded: compressor_losses (compressor 0.1.0) blocked)" in err


def test_lifecycle_hook_that_raises_names_its_plugin(install_fake_plugin, tmp_path, capsys) -> None:
    install_fake_plugin(
        "fake_observer",
        """
        from compressor import hookimpl
        @hookimpl
        def compressor_before_stage(stage, context):
            raise KeyError("missing config")
        """,
        dist="observer-dist",
        version="2.0",
    )
    out_dir = tmp_path / "run"
    code, _, err = _run(
        capsys, "run", _write(tmp_path, CHEAP_RECIPE), "--out", str(out_dir), "--quiet"
    )
    assert code == 2
    assert (
        "plugin fake_observer (observer-dist 2.0) failed in compressor_before_stage for stage "
        "'teacher': KeyError: 'missing config'" in err
    )
    assert "--disable-plugin fake_observer" in err
    assert (tmp_path / "run.failed" / "error.txt").is_file() and not out_dir.exists()


def test_error_hook_that_raises_does_not_hide_the_stage_error(
    install_fake_plugin, tmp_path, capsys
) -> None:
    install_fake_plugin(
        "fake_explode",
        """
        from compressor import hookimpl
        from compressor.errors import StageFailure
        from compressor.records import StagePlugin

        class Explode:
            def __init__(self, options):
                pass
            def run(self, ctx):
                raise StageFailure("the stage itself failed")

        @hookimpl
        def compressor_register_stages():
            return [StagePlugin(name="explode", factory=Explode)]

        @hookimpl
        def compressor_on_stage_error(stage, context, error):
            raise ValueError("the error hook failed too")
        """,
        dist="explode-dist",
    )
    recipe = {**CHEAP_RECIPE, "stages": [{"name": "boom", "type": "explode"}]}
    code, _, err = _run(
        capsys, "run", _write(tmp_path, recipe), "--out", str(tmp_path / "run"), "--quiet"
    )
    last = err.strip().splitlines()[-1]
    assert code == 1 and last.startswith("error: the stage itself failed; the run is kept in ")
    assert "warning:" in err and "the error hook failed too" in err  # shown even with --quiet


@pytest.mark.parametrize("via_env", [False, True])
def test_disabling_the_broken_plugin_hides_it(
    install_fake_plugin, monkeypatch, capsys, via_env: bool
) -> None:
    install_fake_plugin("fake_broken", BROKEN_IMPORT, dist="broken-dist", version="9.9")
    argv = ["plugins", "--json"]
    if via_env:
        monkeypatch.setenv("COMPRESSOR_DISABLE_PLUGINS", "fake_broken")
    else:
        argv += ["--disable-plugin", "fake_broken"]
    code, out, _ = _run(capsys, *argv)
    row = next(p for p in json.loads(out)["plugins"] if p["name"] == "fake_broken")
    assert code == 0 and row["blocked"] and row["error"] is None
