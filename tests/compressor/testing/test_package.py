"""compressor.testing as plugin authors use it: the documented imports and the pytest plugin."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

import compressor.testing

FIXTURES = ("tiny_bundle", "tiny_model", "compressor_registry")


def test_the_documented_imports_work() -> None:
    from compressor.testing import (
        TINY_CLASSES,
        TINY_INPUT_SHAPE,
        StageCheckResult,
        TinyRun,
        check_dataset,
        check_exporter,
        check_loss,
        check_pruner,
        check_stage,
        check_task,
        run_tiny_recipe,
        tiny_cnn,
        tiny_data_bundle,
        tiny_mlp,
    )

    helpers = [check_exporter, check_loss, check_pruner, check_stage, tiny_cnn, tiny_data_bundle]
    helpers += [check_dataset, check_task, run_tiny_recipe, tiny_mlp, StageCheckResult, TinyRun]
    assert all(callable(h) for h in helpers)
    assert (TINY_INPUT_SHAPE, TINY_CLASSES) == ((1, 8, 8), 4)
    assert sorted(compressor.testing.__all__) == sorted(
        [
            "StageCheckResult",
            "TinyRun",
            "check_dataset",
            "check_exporter",
            "check_loss",
            "check_pruner",
            "check_stage",
            "check_task",
            "run_tiny_recipe",
            "tiny_cnn",
            "tiny_data_bundle",
            "tiny_mlp",
        ]
    )


def _env() -> dict[str, str]:
    root = Path(compressor.testing.__file__).resolve().parents[2]
    path = os.pathsep.join(p for p in [str(root), os.environ.get("PYTHONPATH", "")] if p)
    return {**os.environ, "PYTHONPATH": path, "PYTHONDONTWRITEBYTECODE": "1"}


def test_the_fixtures_come_with_the_pytest_plugin(tmp_path: Path) -> None:
    (tmp_path / "conftest.py").write_text('pytest_plugins = ["compressor.testing"]\n')
    (tmp_path / "test_fixtures.py").write_text(
        textwrap.dedent(
            """
            def test_fixtures(tiny_bundle, tiny_model, compressor_registry):
                assert tiny_model(tiny_bundle.test.x[:2]).shape == (2, tiny_bundle.num_classes)
                assert "kd" in compressor_registry.names("loss")
            """
        )
    )
    out = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(tmp_path)],
        cwd=tmp_path,
        env=_env(),
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-2000:]
    assert "1 passed" in out.stdout


@pytest.mark.parametrize("fixture", FIXTURES)
def test_the_fixtures_are_names_of_the_package(fixture: str) -> None:
    # pytest collects a plugin's fixtures from the module it names, not from its submodules.
    assert getattr(compressor.testing, fixture) is getattr(compressor.testing.fixtures, fixture)


def test_the_helpers_work_without_pytest() -> None:
    code = (
        "import sys; sys.modules['pytest'] = None\n"  # makes `import pytest` raise ImportError
        "import compressor.testing as t\n"
        f"assert not any(hasattr(t, f) for f in {FIXTURES!r})\n"
        "assert 'compressor.testing.fixtures' not in sys.modules\n"
        "t.check_loss('kd', zero_when_equal=True)\n"
    )
    subprocess.run([sys.executable, "-c", code], env=_env(), check=True, timeout=240)
