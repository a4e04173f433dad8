"""Shipped recipes: listed by ``compressor recipes``, run and validated by name, shipped as data."""

from __future__ import annotations

import json
import subprocess
import sys
from importlib.resources import files
from pathlib import Path

import pytest
import yaml

from compressor.cli.parser import build_parser
from compressor.recipe.shipped import recipes_dir, resolve_recipe_path, shipped_recipes
from tests.compressor.cli.invoke import run_cli

ROOT = Path(__file__).resolve().parents[3]
SHIPPED = ("deployment", "image_folder", "mnist_seed", "quickstart")


def test_the_recipes_are_package_data() -> None:
    folder = files("compressor").joinpath("recipes")
    names = sorted(
        e.name.removesuffix(".yaml") for e in folder.iterdir() if e.name.endswith(".yaml")
    )
    assert set(SHIPPED) <= set(names)
    assert recipes_dir() == Path(str(folder))
    assert [r.name for r in shipped_recipes()] == names


@pytest.mark.skipif(sys.version_info < (3, 11), reason="tomllib is Python 3.11+")
def test_pyproject_ships_every_recipe_file() -> None:
    import tomllib

    config = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    patterns = config["tool"]["setuptools"]["package-data"]["compressor"]
    package = ROOT / "compressor"
    shipped = {p for pattern in patterns for p in package.glob(pattern)}
    assert {r.path.resolve() for r in shipped_recipes()} <= {p.resolve() for p in shipped}


def test_listing_is_one_line_per_recipe(capsys) -> None:
    code, out, _ = run_cli(capsys, "recipes")
    assert code == 0
    lines = out.strip().splitlines()
    names = [r.name for r in shipped_recipes()]
    assert [line.split()[0] for line in lines[:-1]] == names
    quickstart = lines[names.index("quickstart")]
    assert "teacher (train) → distill → prune → export → quantize → benchmark: A CNN teacher" in (
        quickstart
    )
    assert lines[-1].startswith("run one with `compressor run NAME`")


def test_listing_as_json(capsys) -> None:
    code, out, _ = run_cli(capsys, "recipes", "--json")
    assert code == 0
    payload = json.loads(out)
    rows = {row["name"]: row for row in payload["recipes"]}
    assert list(rows) == [r.name for r in shipped_recipes()]
    for name, row in rows.items():
        raw = yaml.safe_load(Path(row["path"]).read_text(encoding="utf-8"))
        assert raw["name"] == name and row["description"]
        assert [s["type"] for s in row["stages"]] == [s["type"] for s in raw["stages"]]
    assert Path(payload["folder"]) == recipes_dir()


@pytest.mark.parametrize("text", ["quickstart", "quickstart.yaml", "QuickStart"])
def test_run_and_validate_take_a_shipped_name(text) -> None:
    parser = build_parser()
    for command in ("run", "validate"):
        assert parser.parse_args([command, text]).recipe == recipes_dir() / "quickstart.yaml"
    assert resolve_recipe_path("mnist-seed") == recipes_dir() / "mnist_seed.yaml"


def test_validate_by_name(capsys) -> None:
    code, out, _ = run_cli(capsys, "validate", "deployment")
    assert code == 0
    assert f"{recipes_dir() / 'deployment.yaml'}: valid recipe 'deployment', 5 stages" in out


def test_an_existing_file_wins_over_a_shipped_name(
    capsys, tmp_path, monkeypatch, tiny_recipe, write_recipe
) -> None:
    write_recipe(tiny_recipe, name="quickstart")
    monkeypatch.chdir(tmp_path)
    code, out, _ = run_cli(capsys, "validate", "quickstart")
    assert code == 0 and "valid recipe 'tiny'" in out


@pytest.mark.parametrize("command", ["run", "validate"])
def test_an_unknown_name_is_one_line_with_the_choices(capsys, command) -> None:
    code, _, err = run_cli(capsys, command, "quickstrat")
    assert code == 2
    names = ", ".join(r.name for r in shipped_recipes())
    expected = (
        "error: recipe file not found: quickstrat, and no shipped recipe is named 'quickstrat'; "
        f"did you mean 'quickstart'? valid choices: {names} (`compressor recipes` describes them)"
    )
    assert err.splitlines() == [expected]


def test_a_missing_path_names_the_shipped_recipe_it_looks_like(
    capsys, tmp_path, monkeypatch
) -> None:
    monkeypatch.chdir(tmp_path)  # no recipes/quickstart.yaml here, whatever a checkout holds
    code, _, err = run_cli(capsys, "validate", "recipes/quickstart.yaml")
    assert code == 2
    expected = (
        "error: recipe file not found: recipes/quickstart.yaml; for the shipped recipe, give its "
        "name alone: quickstart"
    )
    assert err.splitlines() == [expected]
    code, _, err = run_cli(capsys, "validate", str(tmp_path / "absent.yaml"))
    assert code == 2 and err.splitlines() == [
        f"error: recipe file not found: {tmp_path}/absent.yaml"
    ]


@pytest.mark.skipif(sys.version_info < (3, 11), reason="tomllib is Python 3.11+")
def test_help_points_at_documentation_an_installed_package_can_reach(capsys) -> None:
    import tomllib

    urls = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]["urls"]
    with pytest.raises(SystemExit):
        build_parser().parse_args(["--help"])
    help_text = capsys.readouterr().out
    docs_line = next(line for line in help_text.splitlines() if line.startswith("docs:"))
    assert docs_line.split()[1] == urls["Documentation"]
    assert "compressor recipes" in help_text and "compressor run quickstart" in help_text


def test_listing_imports_no_heavy_library() -> None:
    code = (
        "import sys, io, contextlib; from compressor.cli import main; "
        "buf = io.StringIO(); ctx = contextlib.redirect_stdout(buf); ctx.__enter__(); "
        "rc = main(['recipes', '--json']); ctx.__exit__(None, None, None); "
        "heavy = [m for m in ('torch', 'onnx', 'onnxruntime', 'numpy', 'matplotlib') "
        "if m in sys.modules]; print(rc, 'quickstart' in buf.getvalue(), heavy)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "0 True []"
