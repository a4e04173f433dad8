"""``compressor validate``: what a valid recipe prints; broken plugins named, with the reason."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

from compressor.cli import main
from tests.compressor.cli.invoke import run_cli

QUICKSTART = Path(__file__).resolve().parents[3] / "compressor" / "recipes" / "quickstart.yaml"

#: A loss plugin whose hook module is fine but whose factory module needs a missing package.
LOSS_HOOKS = """
from compressor import hookimpl
from compressor.records import LossPlugin

@hookimpl
def compressor_register_losses():
    return [LossPlugin(name="focal", factory="fake_focal_impl:Focal", needs_teacher=False)]
"""
LOSS_IMPL = "import timm_is_not_installed\n\nclass Focal:\n    pass\n"


def test_validate_prints_the_flow(capsys, tiny_recipe, write_recipe) -> None:
    code, out, _ = run_cli(
        capsys, "validate", str(write_recipe(tiny_recipe)), "--set", "stages.distill.epochs=3"
    )
    assert code == 0
    assert "teacher (train) → distill (distill) → prune (prune) → export (export)" in out


def _with_focal(recipe: dict) -> dict:
    recipe["stages"][1]["losses"] = [{"name": "kd"}, {"name": "focal"}]
    return recipe


def test_a_factory_that_cannot_be_imported_fails_validate_naming_field_and_plugin(
    capsys, tiny_recipe, write_recipe, install_fake_plugin
) -> None:
    site = install_fake_plugin("fake_focal", LOSS_HOOKS, dist="focal-dist", version="0.3")
    (site / "fake_focal_impl.py").write_text(LOSS_IMPL)
    code, _, err = run_cli(capsys, "validate", str(write_recipe(_with_focal(tiny_recipe))))
    lines = err.strip().splitlines()
    assert code == 2 and len(lines) == 1
    assert lines[0].startswith("error: ") and "stages.distill.losses[1].name:" in lines[0]
    assert "loss 'focal' of plugin fake_focal (focal-dist 0.3)" in lines[0]
    assert "fake_focal_impl:Focal" in lines[0]
    assert "ModuleNotFoundError: No module named 'timm_is_not_installed'" in lines[0]


def test_run_stops_on_it_before_any_stage_trains(
    capsys, tiny_recipe, write_recipe, install_fake_plugin, tmp_path
) -> None:
    site = install_fake_plugin("fake_focal", LOSS_HOOKS, dist="focal-dist", version="0.3")
    (site / "fake_focal_impl.py").write_text(LOSS_IMPL)
    out = tmp_path / "run"
    code = main(["run", str(write_recipe(_with_focal(tiny_recipe))), "--out", str(out), "--quiet"])
    err = capsys.readouterr().err
    assert code == 2
    assert "stages.distill.losses[1].name: loss 'focal' of plugin fake_focal" in err
    assert not out.exists() and not out.with_name("run.failed").exists()  # nothing ran


def test_a_stage_whose_module_cannot_be_imported_names_the_stage_field(
    capsys, tiny_recipe, write_recipe, install_fake_plugin
) -> None:
    install_fake_plugin(
        "fake_stage",
        """
        from compressor import hookimpl
        from compressor.records import StagePlugin
        @hookimpl
        def compressor_register_stages():
            return [StagePlugin(name="polish", factory="fake_stage_missing.impl:Polish")]
        """,
    )
    tiny_recipe["stages"].append({"name": "polish", "type": "polish"})
    code, _, err = run_cli(capsys, "validate", str(write_recipe(tiny_recipe)))
    assert code == 2
    assert "stages[5].type: stage 'polish' of plugin fake_stage (demo-plugin 0.1)" in err
    assert "No module named 'fake_stage_missing'" in err


def test_a_name_from_a_broken_plugin_says_why_the_plugin_is_broken(
    capsys, tiny_recipe, write_recipe, install_fake_plugin
) -> None:
    install_fake_plugin("fake_focal", "import timm_is_not_installed\n", dist="focal-dist")
    code, _, err = run_cli(capsys, "validate", str(write_recipe(_with_focal(tiny_recipe))))
    lines = err.strip().splitlines()
    assert code == 2 and len(lines) == 1
    assert "stages.distill.losses[1].name: unknown loss 'focal'" in lines[0]
    assert "not loaded: fake_focal (focal-dist 0.1)" in lines[0]
    assert "ModuleNotFoundError: No module named 'timm_is_not_installed'" in lines[0]


def test_validate_imports_no_onnx_or_onnxruntime(tmp_path) -> None:
    # The speed work: every factory of quickstart is imported, and none of them needs these.
    code = textwrap.dedent(
        """
        import sys
        from compressor.cli import main
        assert main(["validate", sys.argv[1]]) == 0
        print(sorted(m for m in ("onnx", "onnxruntime", "matplotlib") if m in sys.modules))
        """
    )
    result = subprocess.run(
        [sys.executable, "-c", code, str(QUICKSTART)], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines()[-1] == "[]"


def test_validate_keeps_the_preflight_checks(capsys, tiny_recipe, write_recipe) -> None:
    tiny_recipe["stages"][2]["ignored"] = ["no_such_layer"]
    code, _, err = run_cli(capsys, "validate", str(write_recipe(tiny_recipe)))
    assert code == 2 and "stages.prune.ignored[0]: " in err and "no_such_layer" in err
