"""The example plugin distribution (examples/compressor-plugin-example), seen through its entry point.

It is made visible with a fake dist-info on sys.path, as `pip install -e` would, so the venv
is never modified.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
import yaml

from compressor import recipe
from compressor.cli import main
from compressor.plugin.registry import Registry
from compressor.run import pipeline
from compressor.run.progress import Progress
from compressor.testing import check_exporter, check_loss, check_pruner, check_stage, tiny_cnn
from tests.dists import EXAMPLE_DIR, EXAMPLE_DIST, EXAMPLE_PLUGIN, install_example

REGISTERED = {
    "loss": ["cosine"],
    "pruner": ["normalized_l1"],
    "exporter": ["model_card"],
    "stage": ["summary"],
}


@pytest.fixture(scope="module")
def example_paths(tmp_path_factory):
    paths = install_example(tmp_path_factory.mktemp("site"))
    with pytest.MonkeyPatch.context() as mp:
        for path in reversed(paths):
            mp.syspath_prepend(path)
        yield paths


@pytest.fixture(scope="module")
def example_registry(example_paths) -> Registry:
    return Registry.load()


def test_registers_one_of_each_kind_with_its_distribution(example_registry) -> None:
    info = example_registry.pm.infos[EXAMPLE_PLUGIN]
    assert (info.distribution, info.version) == EXAMPLE_DIST and info.error is None
    assert example_registry.registered_by(info.label) == REGISTERED
    assert info.hooks == sorted(
        f"compressor_register_{k}" for k in ("losses", "pruners", "exporters", "stages")
    )


def test_registration_module_does_not_import_torch(example_paths) -> None:
    code = (
        "import sys; from compressor.plugin.registry import Registry; r = Registry.load(); "
        "assert 'cosine' in r.names('loss'); print('torch' in sys.modules)"
    )
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(example_paths),
        "PYTHONDONTWRITEBYTECODE": "1",
    }
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True
    )
    assert out.stdout.strip() == "False"


def test_contract_checks_pass(example_registry, tmp_path) -> None:
    check_loss("cosine", zero_when_equal=True)
    check_pruner("normalized_l1")
    check_exporter("model_card", directory=tmp_path / "card")
    result = check_stage(
        "summary", inputs={"model": tiny_cnn()}, run_dir=tmp_path / "run", registry=example_registry
    )
    assert (tmp_path / "run" / "model.summary.txt").is_file() and result.metrics["params"] > 0


def test_plugins_command_lists_it(example_paths, capsys) -> None:
    assert main(["plugins", "--json"]) == 0
    payload = json.loads(capsys.readouterr().out)
    row = next(p for p in payload["plugins"] if p["name"] == EXAMPLE_PLUGIN)
    assert (row["distribution"], row["version"]) == EXAMPLE_DIST and row["registers"] == REGISTERED
    cosine = next(r for r in payload["registered"]["loss"] if r["name"] == "cosine")
    assert cosine["description"].startswith("1 - cosine") and cosine["source"].startswith(
        EXAMPLE_PLUGIN
    )


@pytest.fixture(scope="module")
def example_run(example_registry, tmp_path_factory):
    overrides = [
        "stages.teacher.epochs=1",
        "stages.teacher.model.options.channels=[8, 16]",
        "stages.teacher.model.options.hidden=32",
        "stages.distill.epochs=1",
        "stages.distill.model.options.hidden=[32]",
        "stages.prune.finetune.epochs=0",
    ]
    plan = recipe.load(EXAMPLE_DIR / "recipe.yaml", example_registry, overrides)
    out = tmp_path_factory.mktemp("runs") / "example"
    return pipeline.run(plan, example_registry, out, progress=Progress(enabled=False))


def test_shipped_recipe_uses_all_four(example_run) -> None:
    run_dir, metrics = example_run.run_dir, example_run.metrics
    stages, artifacts = metrics["stages"], metrics["artifacts"]
    resolved = yaml.safe_load((run_dir / "recipe.yaml").read_text())
    assert resolved["stages"][1]["losses"][0]["name"] == "cosine"
    assert stages["prune"]["pruner"] == "normalized_l1"
    assert stages["prune"]["pruned"]["params"] < stages["prune"]["before"]["params"]
    assert artifacts["student.summary.txt"]["producer"] == "describe"
    assert artifacts["student.json"]["producer"] == "card"
    summary = (run_dir / "student.summary.txt").read_text()
    assert summary.startswith(f"student: {stages['describe']['params']:,} parameters")
    card = json.loads((run_dir / "student.json").read_text())
    assert card["params"] == stages["describe"]["params"] == stages["prune"]["params"]
    assert card["input_shape"] == [1, 8, 8] and card["output_shape"] == [10]
    assert card["description"] == "MLP student, distilled and pruned"


def test_disabling_it_names_it_in_the_recipe_error(example_paths, capsys) -> None:
    code = main(["validate", str(EXAMPLE_DIR / "recipe.yaml"), "--disable-plugin", EXAMPLE_PLUGIN])
    err = capsys.readouterr().err.strip()
    assert code == 2 and len(err.splitlines()) == 1
    assert (
        "unknown loss 'cosine'" in err
        and f"{EXAMPLE_PLUGIN} (compressor-plugin-example 0.1.0) blocked" in err
    )


def test_its_own_test_suite_passes(example_paths) -> None:
    # The caller's PYTHONPATH stays after the example's: a checkout it points at (a worktree)
    # is the compressor under test, not the installed one.
    inherited = [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([*example_paths, *inherited]),
        "PYTHONDONTWRITEBYTECODE": "1",
    }
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:cacheprovider",
            str(EXAMPLE_DIR / "tests"),
        ],
        capture_output=True,
        text=True,
        env=env,
        cwd=EXAMPLE_DIR,
        timeout=240,
        check=False,
    )
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-2000:]
    assert " passed" in out.stdout and "failed" not in out.stdout
