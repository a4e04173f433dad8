"""`compressor new-plugin`: the skeleton installs, registers through its entry point and passes its test."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from compressor.cli import main
from tests.dists import write_dist_info


def test_generated_package_passes_its_own_test(tmp_path: Path, capsys) -> None:
    target = tmp_path / "focal"
    assert main(["new-plugin", "compressor-focal", "--dir", str(target)]) == 0
    assert "created compressor-focal" in capsys.readouterr().out
    files = sorted(str(p.relative_to(target)) for p in target.rglob("*") if p.is_file())
    assert files == [
        "README.md",
        "compressor_focal/__init__.py",
        "compressor_focal/loss.py",
        "pyproject.toml",
        "tests/conftest.py",
        "tests/test_compressor_focal.py",
    ]
    pyproject = (target / "pyproject.toml").read_text()
    assert 'name = "compressor-focal"' in pyproject
    assert '[project.entry-points.compressor]\ncompressor_focal = "compressor_focal"' in pyproject

    # What `pip install -e` would do, without touching the venv: a dist-info with the entry point.
    site = tmp_path / "site"
    write_dist_info(site, "compressor-focal", "0.1.0", {"compressor_focal": "compressor_focal"})
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(site), str(target)]),
        "PYTHONDONTWRITEBYTECODE": "1",
    }
    out = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"],
        cwd=target,
        env=env,
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-2000:]
    assert "3 passed" in out.stdout


def test_registration_module_is_valid_without_installing(tmp_path: Path, monkeypatch) -> None:
    from compressor.plugin.registry import Registry
    from compressor.testing import check_loss

    main(["new-plugin", "my_loss", "--dir", str(tmp_path / "p")])
    monkeypatch.syspath_prepend(str(tmp_path / "p"))
    import my_loss

    try:
        record = Registry.load(extra_plugins=[("my_loss", my_loss)]).get("loss", "my_loss")
        assert record.options.model_validate({}).beta == 1.0
        check_loss(record, zero_when_equal=True)
    finally:
        for name in [m for m in sys.modules if m == "my_loss" or m.startswith("my_loss.")]:
            del sys.modules[name]


def test_refuses_a_non_empty_folder(tmp_path: Path, capsys) -> None:
    (tmp_path / "keep.txt").write_text("mine")
    assert main(["new-plugin", "compressor-x", "--dir", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "already exists and is not empty" in err
    assert [p.name for p in tmp_path.iterdir()] == ["keep.txt"]


def test_an_empty_folder_is_fine(tmp_path: Path) -> None:
    assert main(["new-plugin", "compressor-x", "--dir", str(tmp_path)]) == 0
    assert (tmp_path / "compressor_x" / "__init__.py").is_file()


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("1focal", "invalid plugin name '1focal'"),
        ("my plugin", "invalid plugin name 'my plugin'"),
        ("focal--loss", "invalid plugin name"),
        ("import", "'import' is a Python keyword"),
        ("torch", "a module named 'torch' is already importable"),
        ("compressor", "a module named 'compressor' is already importable"),
    ],
)
def test_rejects_invalid_names(tmp_path: Path, capsys, name: str, message: str) -> None:
    assert main(["new-plugin", name, "--dir", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and message in err
    assert not (tmp_path / "out").exists()
