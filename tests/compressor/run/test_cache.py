"""The stage cache: unchanged stages are reused, changed ones and their dependents rerun."""

from __future__ import annotations

import copy
import hashlib
import json
import multiprocessing
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import yaml

from compressor.cli import main
from compressor.run.cache import StageCache, cache_key, default_cache_dir
from tests.conftest import teacher_student_recipe

RECIPE: dict[str, Any] = teacher_student_recipe("cached", exported=["student"])

#: A loss plugin installed as an editable install would be: its factory reads FACTOR.
SCALED_LOSS = """
from compressor import hookimpl
from compressor.records import LossPlugin

FACTOR = {factor}


def make(options):
    import torch.nn.functional as F
    from torch import nn

    class Scaled(nn.Module):
        def forward(self, student, teacher, targets):
            return FACTOR * F.cross_entropy(student, targets)

    return Scaled()


@hookimpl
def compressor_register_losses():
    return [LossPlugin(name="scaled_ce", factory="fake_scaled:make", needs_teacher=False)]
"""


def _run(recipe_path: Path, out: Path, *extra: str) -> dict[str, Any]:
    assert main(["run", str(recipe_path), "--out", str(out), "--quiet", *extra]) == 0
    return json.loads((out / "metrics.json").read_text())["stages"]


def test_second_run_reuses_every_cacheable_stage(tmp_path, write_recipe) -> None:
    path = write_recipe(RECIPE)
    first = _run(path, tmp_path / "a")
    second = _run(path, tmp_path / "b")
    assert not any(stage.get("cached") for stage in first.values())
    assert all(second[name].get("cached") for name in ("teacher", "distill", "export"))
    for name in ("teacher", "distill"):
        assert second[name]["test_accuracy"] == first[name]["test_accuracy"]
        assert second[name]["original_seconds"] == first[name]["seconds"]
    assert sorted(p.name for p in (tmp_path / "b").glob("*.onnx")) == ["student.onnx"]
    assert (tmp_path / "b" / "student.onnx").read_bytes() == (
        tmp_path / "a" / "student.onnx"
    ).read_bytes()
    report = (tmp_path / "b" / "report.md").read_text()
    assert report.count("from cache") == 3


def test_a_changed_stage_reruns_with_what_depends_on_it(tmp_path, write_recipe) -> None:
    _run(write_recipe(RECIPE), tmp_path / "a")
    changed = copy.deepcopy(RECIPE)
    changed["stages"][1]["epochs"] = 3
    stages = _run(write_recipe(changed, "changed.yaml"), tmp_path / "b")
    assert stages["teacher"].get("cached") is True
    assert not stages["distill"].get("cached")
    assert not stages["export"].get("cached")  # its input, the student, changed


def test_no_cache_forces_a_rerun(tmp_path, write_recipe) -> None:
    path = write_recipe(RECIPE)
    _run(path, tmp_path / "a")
    stages = _run(path, tmp_path / "b", "--no-cache")
    assert not any(stage.get("cached") for stage in stages.values())


def test_no_cache_writes_no_entries(tmp_path, write_recipe) -> None:
    _run(write_recipe(RECIPE), tmp_path / "a", "--no-cache", "--cache-dir", str(tmp_path / "c"))
    assert list((tmp_path / "c").rglob("entry.json")) == []


def test_editing_a_plugin_reruns_the_stages_that_use_it(
    tmp_path, write_recipe, install_fake_plugin
) -> None:
    site = install_fake_plugin("fake_scaled", SCALED_LOSS.format(factor=1.0), dist="scaled")
    model = {"name": "seed_mlp", "options": {"hidden": [16]}}
    recipe = {
        **RECIPE,
        "stages": [
            {"name": "uses_it", "type": "train", "model": model, "epochs": 1,
             "losses": [{"name": "scaled_ce"}]},
            {"name": "does_not", "type": "train", "model": model, "epochs": 1},
        ],
    }  # fmt: skip
    path = write_recipe(recipe)
    _run(path, tmp_path / "a")
    assert all(stage.get("cached") for stage in _run(path, tmp_path / "b").values())
    # The edit an editable install sees at once, with no version bump.
    (site / "fake_scaled.py").write_text(SCALED_LOSS.format(factor=100.0))
    stages = _run(path, tmp_path / "c")
    assert not stages["uses_it"].get("cached")
    assert stages["does_not"].get("cached") is True


def test_a_different_seed_misses(tmp_path, write_recipe) -> None:
    path = write_recipe(RECIPE)
    _run(path, tmp_path / "a")
    stages = _run(path, tmp_path / "b", "--set", "seed=1")
    assert not stages["teacher"].get("cached")


def test_cache_dir_option_and_environment(
    tmp_path, write_recipe, isolated_stage_cache, monkeypatch
) -> None:
    assert default_cache_dir() == isolated_stage_cache
    monkeypatch.delenv("COMPRESSOR_CACHE_DIR")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert default_cache_dir() == tmp_path / "xdg" / "compressor" / "stages"
    _run(write_recipe(RECIPE), tmp_path / "a", "--cache-dir", str(tmp_path / "mine"))
    assert len(list((tmp_path / "mine").glob("*/*/entry.json"))) == 3


def test_unwritable_cache_only_warns(tmp_path, write_recipe, capsys) -> None:
    blocker = tmp_path / "cache"
    blocker.write_text("a file where the cache folder should be")  # unwritable, even for root
    stages = _run(write_recipe(RECIPE), tmp_path / "a", "--cache-dir", str(blocker))
    assert stages["distill"]["test_accuracy"] > 0.5
    assert "could not write the stage cache" in capsys.readouterr().err


def test_unwritable_cache_store_returns_false(tmp_path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    cache = StageCache(blocker)  # mkdir under a regular file fails, whoever runs the test
    assert (
        cache.store("ab" * 32, run_dir=tmp_path, files=[], artifacts=[], metrics={}, material={})
        is False
    )


def test_damaged_entries_miss(tmp_path) -> None:
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    (run_dir / "model.pt").write_bytes(b"weights")
    cache = StageCache(tmp_path / "cache")
    key = cache_key({"stage": "x"})
    assert cache.store(
        key, run_dir=run_dir, files=["model.pt"], artifacts=[], metrics={"a": 1}, material={}
    )
    hit = cache.load(key)
    assert hit is not None and hit.metrics == {"a": 1}
    (hit.folder / "files" / "model.pt").unlink()
    assert cache.load(key) is None  # a file went missing
    (hit.folder / "entry.json").write_text("{not json")
    assert cache.load(key) is None
    assert StageCache(tmp_path / "cache", read=False).load(key) is None


def test_key_covers_every_part_of_the_material() -> None:
    base = {"stage": {"epochs": 2}, "inputs": {"teacher": "d1"}, "versions": {"compressor": "0.1"}}
    keys = {
        cache_key(base),
        cache_key({**base, "stage": {"epochs": 3}}),
        cache_key({**base, "inputs": {"teacher": "d2"}}),
        cache_key({**base, "versions": {"compressor": "0.2"}}),
    }
    assert len(keys) == 4
    assert cache_key(dict(reversed(list(base.items())))) == cache_key(base)  # order does not matter


def _write_entries(root: str, writer: int, rounds: int, clear_every: int, start: Any) -> list[str]:
    """One process's share of the interleaving test: store, load and copy entries of a few
    keys that the other process writes too; returns what went wrong."""
    cache = StageCache(Path(root))
    run_dir = Path(root).parent / f"writer-{writer}"
    (run_dir / "out").mkdir(parents=True)
    problems: list[str] = []
    start.wait()
    for i in range(rounds):
        key = cache_key({"stage": i % 3})
        payload = os.urandom(1 << 15)
        (run_dir / "model.pt").write_bytes(payload)
        digest = hashlib.sha256(payload).hexdigest()
        stored = cache.store(
            key, run_dir=run_dir, files=["model.pt"], artifacts=[],
            metrics={"digest": digest}, material={"i": i},
        )  # fmt: skip
        if clear_every and i % clear_every == 0:
            cache.clear()
        hit = cache.load(key)
        if not clear_every and not (stored and hit is not None):
            problems.append(f"round {i}: stored={stored}, hit={hit is not None}")
        if hit is None:
            continue
        try:
            hit.copy_files(run_dir / "out")
        except OSError:
            if not clear_every:
                problems.append(f"round {i}: the entry vanished while it was copied")
            continue
        copied = hashlib.sha256((run_dir / "out" / "model.pt").read_bytes()).hexdigest()
        if copied != hit.metrics["digest"]:
            problems.append(f"round {i}: files of one entry, entry.json of another")
    return problems


def _interleave(tmp_path: Path, clear_every: int) -> list[str]:
    spawn = multiprocessing.get_context("spawn")
    start = spawn.Manager().Event()
    root = str(tmp_path / "cache")
    with spawn.Pool(2) as pool:
        results = [
            pool.apply_async(_write_entries, (root, writer, 300, clear_every, start))
            for writer in (1, 2)
        ]
        start.set()
        return [problem for result in results for problem in result.get(timeout=120)]


def test_two_processes_storing_and_loading_one_key_never_see_half_an_entry(tmp_path) -> None:
    assert _interleave(tmp_path, clear_every=0) == []
    assert not [p for p in (tmp_path / "cache").glob("*/.*")]  # no temporary folder left


def test_clearing_while_another_process_reads_is_only_a_miss(tmp_path) -> None:
    assert _interleave(tmp_path, clear_every=7) == []


def test_two_runs_sharing_one_cache_then_a_third_hits_it(tmp_path) -> None:
    recipe = teacher_student_recipe("shared", exported=[], epochs=1)
    recipe["stages"] = recipe["stages"][:2]  # train and distill: the second's key reads the first
    for stage, hidden in zip(recipe["stages"], ([16], [8]), strict=True):
        stage["model"] = {"name": "seed_mlp", "options": {"hidden": hidden}}
    path = tmp_path / "recipe.yaml"
    path.write_text(yaml.safe_dump(recipe, sort_keys=False))
    cache = tmp_path / "cache"

    def start(name: str) -> subprocess.Popen[str]:
        argv = [
            "run",
            str(path),
            "--out",
            str(tmp_path / name),
            "--quiet",
            "--cache-dir",
            str(cache),
        ]
        return subprocess.Popen(
            [sys.executable, "-m", "compressor", *argv], stderr=subprocess.PIPE, text=True
        )

    together = [start("a"), start("b")]
    for process in together:
        _, err = process.communicate(timeout=300)
        assert process.returncode == 0, err
    third = start("c")
    _, err = third.communicate(timeout=300)
    assert third.returncode == 0, err
    figures = {
        name: json.loads((tmp_path / name / "metrics.json").read_text())["stages"]
        for name in ("a", "b", "c")
    }
    assert all(figures["c"][s].get("cached") is True for s in ("teacher", "distill"))
    for stage in ("teacher", "distill"):
        assert figures["c"][stage]["test_accuracy"] == figures["a"][stage]["test_accuracy"]
        assert figures["b"][stage]["test_accuracy"] == figures["a"][stage]["test_accuracy"]
    assert len(list(cache.glob("*/*/entry.json"))) == 2
    assert not list(cache.glob("*/.*"))
