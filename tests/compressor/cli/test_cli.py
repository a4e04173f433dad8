"""The command line: exit codes, one-line errors, --help, plugins listing without torch."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from compressor.cli import main


def _run(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out = capsys.readouterr()
    return code, out.out, out.err


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
        code, out, err = _run(capsys, command, str(path))
        assert code == 2
        lines = err.strip().splitlines()
        assert len(lines) == 1 and expected in lines[0] and "Traceback" not in err


def test_missing_file_and_bad_set(capsys, tmp_path, tiny_recipe, write_recipe) -> None:
    code, _, err = _run(capsys, "validate", str(tmp_path / "absent.yaml"))
    assert code == 2 and "recipe file not found" in err
    path = write_recipe(tiny_recipe)
    code, _, err = _run(capsys, "validate", str(path), "--set", "stages.nope.epochs=1")
    assert code == 2 and "no entry named 'nope'" in err


def test_debug_shows_the_traceback(tiny_recipe, write_recipe) -> None:
    from compressor.errors import RecipeError

    tiny_recipe["seed"] = "x"
    with pytest.raises(RecipeError):
        main(["validate", str(write_recipe(tiny_recipe)), "--debug"])


def test_validate_prints_the_flow(capsys, tiny_recipe, write_recipe) -> None:
    code, out, _ = _run(
        capsys, "validate", str(write_recipe(tiny_recipe)), "--set", "stages.distill.epochs=3"
    )
    assert code == 0
    assert "teacher (train) → distill (distill) → prune (prune) → export (export)" in out


def test_plugins_json_lists_every_builtin(capsys) -> None:
    code, out, _ = _run(capsys, "plugins", "--json")
    assert code == 0
    payload = json.loads(out)
    by_name = {p["name"]: p for p in payload["plugins"]}
    assert {"ce", "kd", "mse_logits", "dkd", "dist", "fitnet", "at", "rkd", "pkt", "sp"} == set(
        by_name["compressor_losses"]["registers"]["loss"]
    )
    assert by_name["compressor_stages"]["hooks"] == ["compressor_register_stages"]
    assert by_name["compressor_losses"]["distribution"] == "compressor"
    sources = {r["source"].split(" ")[0] for r in payload["registered"]["stage"]}
    assert sources == {"compressor_stages"}


def test_plugins_table_and_help(capsys) -> None:
    code, out, _ = _run(capsys, "plugins")
    assert code == 0 and "magnitude" in out and "compressor_pruning" in out
    with pytest.raises(SystemExit) as excinfo:
        main(["run", "--help"])
    assert excinfo.value.code == 0
    assert "--set" in capsys.readouterr().out


def test_listing_plugins_does_not_import_torch() -> None:
    code = (
        "import sys, io, contextlib; from compressor.cli import main; "
        "buf = io.StringIO(); ctx = contextlib.redirect_stdout(buf); ctx.__enter__(); "
        "rc = main(['plugins', '--json']); ctx.__exit__(None, None, None); "
        "heavy = [m for m in ('torch', 'onnx', 'onnxruntime', 'torchvision', 'sklearn', 'numpy', 'torch_pruning') if m in sys.modules]; "
        "print(rc, heavy)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "0 []"
