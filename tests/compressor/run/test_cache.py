"""The stage cache: unchanged stages are reused, changed ones and their dependents rerun."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

from compressor.cli import main
from compressor.run.cache import StageCache, cache_key, default_cache_dir
from tests.conftest import teacher_student_recipe

RECIPE: dict[str, Any] = teacher_student_recipe("cached", exported=["student"])


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
