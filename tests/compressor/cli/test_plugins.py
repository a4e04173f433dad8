"""``compressor plugins``: the listing, as tables and JSON, without importing torch."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from compressor.cli import main
from tests.compressor.cli.invoke import run_cli


def test_plugins_json_lists_every_builtin(capsys) -> None:
    code, out, _ = run_cli(capsys, "plugins", "--json")
    assert code == 0
    payload = json.loads(out)
    by_name = {p["name"]: p for p in payload["plugins"]}
    assert {"ce", "kd", "mse_logits", "dkd", "dist", "fitnet", "at", "rkd", "pkt", "sp"} == set(
        by_name["compressor_losses"]["registers"]["loss"]
    )
    assert by_name["compressor_stages"]["hooks"] == ["compressor_register_stages"]
    assert by_name["compressor_losses"]["distribution"] == "compressor"
    sources = {r["source"].split(" ")[0] for r in payload["registered"]["stage"]}
    assert sources == {"compressor_stages", "compressor_search"}
    tasks = {r["name"]: r["source"].split(" ")[0] for r in payload["registered"]["task"]}
    assert tasks == {"classification": "compressor_tasks", "detection": "compressor_detection"}


def test_plugins_table_and_help(capsys) -> None:
    code, out, _ = run_cli(capsys, "plugins")
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
