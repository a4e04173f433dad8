"""``compressor schema``: the recipe JSON Schema on standard output or in a file, without torch."""

from __future__ import annotations

import json
import subprocess
import sys

from compressor.recipe.schema import DIALECT, recipe_schema
from tests.compressor.cli.invoke import run_cli


def test_prints_the_schema_of_the_installed_plugins(capsys, registry) -> None:
    code, out, _ = run_cli(capsys, "schema")
    assert code == 0
    schema = json.loads(out)
    assert schema == json.loads(json.dumps(recipe_schema(registry)))
    assert schema["$schema"] == DIALECT and schema["required"][0] == "version"


def test_out_writes_the_file_atomically(capsys, tmp_path) -> None:
    target = tmp_path / "editor" / "recipe.schema.json"
    code, out, _ = run_cli(capsys, "schema", "--out", str(target))
    assert code == 0 and out.strip() == f"wrote {target}"
    assert json.loads(target.read_text())["title"] == "compressor recipe"
    # Nothing else is left beside it: the temporary file was renamed into place.
    assert [p.name for p in target.parent.iterdir()] == ["recipe.schema.json"]


def test_out_naming_a_folder_is_one_line(capsys, tmp_path) -> None:
    code, out, err = run_cli(capsys, "schema", "--out", str(tmp_path))
    assert code == 2 and out == ""
    assert err.count("\n") == 1 and f"--out: {tmp_path} is a folder" in err


def test_schema_imports_no_heavy_library() -> None:
    code = (
        "import sys, io, contextlib; from compressor.cli import main; "
        "buf = io.StringIO(); ctx = contextlib.redirect_stdout(buf); ctx.__enter__(); "
        "rc = main(['schema']); ctx.__exit__(None, None, None); "
        "heavy = [m for m in ('torch', 'onnx', 'onnxruntime', 'torchvision', 'numpy', "
        "'matplotlib', 'torch_pruning') if m in sys.modules]; "
        "print(rc, len(buf.getvalue()) > 10000, heavy)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "0 True []"
