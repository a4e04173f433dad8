"""The stage loop on cheap fake stages: seeding, restoring, the cache, failures, the hooks."""

from __future__ import annotations

import json
import random
import shutil
import types
from pathlib import Path
from typing import Any

import pytest

from compressor import hookimpl, recipe
from compressor.artifacts import FileArtifact
from compressor.context import RunContext
from compressor.errors import StageFailure
from compressor.plugin.registry import Registry
from compressor.records import Role, StagePlugin
from compressor.run.cache import CachedStage, StageCache
from compressor.run.progress import Progress
from compressor.run.results import COMPLETED_FILE, read_completed
from compressor.run.stages import StageLoop
from compressor.training.distributed import DistributedInfo

RAN: list[str] = []


class Note:
    """Writes one random draw to ``NAME.txt`` and publishes it."""

    def __init__(self, options: Any) -> None:
        pass

    def run(self, ctx: Any) -> None:
        RAN.append(ctx.info.name)
        path = ctx.run_dir / f"{ctx.info.name}.txt"
        draw = random.random()
        path.write_text(repr(draw))
        ctx.publish(FileArtifact(name=ctx.output_name("note"), path=path, format="txt"))
        ctx.log(draw=draw)


class Fail:
    def __init__(self, options: Any) -> None:
        pass

    def run(self, ctx: Any) -> None:
        raise StageFailure("the note is illegible")


class Recorder:
    def __init__(self) -> None:
        self.calls: list[tuple[str, str]] = []

    @hookimpl
    def compressor_before_stage(self, stage, context) -> None:
        self.calls.append(("before", stage.name))

    @hookimpl
    def compressor_after_stage(self, stage, context, seconds) -> None:
        self.calls.append(("after", stage.name))

    @hookimpl
    def compressor_on_stage_error(self, stage, context, error) -> None:
        self.calls.append(("error", stage.name))


@hookimpl
def compressor_register_stages() -> list[StagePlugin]:
    outputs = {"note": Role("a note")}
    return [
        StagePlugin(name="note", factory=Note, outputs=outputs, cacheable=True),
        StagePlugin(name="fail", factory=Fail),
    ]


def _stage(name: str, type_: str = "note") -> dict[str, Any]:
    return {"name": name, "type": type_, "outputs": {"note": f"{name}_note"}}


RECIPE = {
    "version": 1,
    "name": "notes",
    "seed": 5,
    "device": "cpu",
    "data": {"dataset": "digits"},
    "stages": [_stage("a"), _stage("b")],
}


@pytest.fixture
def recorder() -> Recorder:
    return Recorder()


@pytest.fixture
def notes_registry(recorder: Recorder) -> Registry:
    notes = types.SimpleNamespace(compressor_register_stages=compressor_register_stages)
    return Registry.load(extra_plugins=[("notes", notes), ("recorder", recorder)])


def _loop(
    registry: Registry,
    run_dir: Path,
    raw: dict[str, Any] = RECIPE,
    *,
    cache: StageCache | None = None,
    completed: list[dict[str, Any]] | None = None,
) -> StageLoop:
    RAN.clear()
    plan = recipe.resolve(json.loads(json.dumps(raw)), registry)
    run_dir.mkdir(exist_ok=True)
    context = RunContext(
        recipe=plan.recipe,
        registry=registry,
        run_dir=run_dir,
        device="cpu",
        seed=plan.recipe.seed,
        progress=Progress(enabled=False),
    )
    return StageLoop(
        plan,
        context,
        resolved=plan.resolved(),
        cache=cache or StageCache(None),
        completed=completed or [],
        dist=DistributedInfo(),
    )


def test_each_stage_is_seeded_with_the_recipe_seed_plus_its_index(notes_registry, tmp_path) -> None:
    loop = _loop(notes_registry, tmp_path / "run")
    loop.run()
    assert RAN == ["a", "b"] and loop.current == "b"
    for index, name in enumerate(["a", "b"]):
        random.seed(5 + index)
        assert (tmp_path / "run" / f"{name}.txt").read_text() == repr(random.random())
    completed = read_completed(tmp_path / "run")
    assert [s["name"] for s in completed] == ["a", "b"] == [s["name"] for s in loop.done]
    assert completed[0]["artifacts"][0]["path"] == "a.txt"


def test_a_stage_that_completed_before_is_restored_not_run(
    notes_registry, recorder, tmp_path
) -> None:
    _loop(notes_registry, tmp_path / "run").run()
    first = read_completed(tmp_path / "run")[:1]
    recorder.calls.clear()
    loop = _loop(notes_registry, tmp_path / "run", completed=first)
    loop.run()
    assert RAN == ["b"]
    assert recorder.calls == [("before", "b"), ("after", "b")]  # a's hooks ran the first time
    assert loop.context.metrics["a"]["resumed"] is True
    assert loop.context.artifacts["a_note"].path == tmp_path / "run" / "a.txt"


def test_a_cached_stage_is_copied_not_run(notes_registry, recorder, tmp_path) -> None:
    cache = StageCache(tmp_path / "cache")
    _loop(notes_registry, tmp_path / "one", cache=cache).run()
    recorder.calls.clear()
    loop = _loop(notes_registry, tmp_path / "two", cache=cache)
    loop.run()
    assert RAN == []
    assert recorder.calls == [("before", "a"), ("after", "a"), ("before", "b"), ("after", "b")]
    for name in ("a", "b"):
        assert (tmp_path / "two" / f"{name}.txt").read_text() == (
            tmp_path / "one" / f"{name}.txt"
        ).read_text()
        assert loop.context.metrics[name]["cached"] is True
    assert [s["name"] for s in read_completed(tmp_path / "two")] == ["a", "b"]


def test_a_failing_stage_logs_its_error_and_calls_the_error_hook(
    notes_registry, recorder, tmp_path
) -> None:
    raw = {**RECIPE, "stages": [_stage("a"), {"name": "bad", "type": "fail"}, _stage("b")]}
    loop = _loop(notes_registry, tmp_path / "run", raw)
    with pytest.raises(StageFailure, match="illegible"):
        loop.run()
    assert RAN == ["a"] and loop.current == "bad"
    assert recorder.calls == [("before", "a"), ("after", "a"), ("before", "bad"), ("error", "bad")]
    assert loop.context.metrics["bad"]["error"] == "the note is illegible"
    assert "seconds" in loop.context.metrics["bad"]
    assert [s["name"] for s in read_completed(tmp_path / "run")] == ["a"]
    assert (tmp_path / "run" / COMPLETED_FILE).is_file()


class VanishingCache(StageCache):
    """A cache whose entries another process removes right after this one finds them."""

    def load(self, key: str) -> CachedStage | None:
        hit = super().load(key)
        if hit is not None:
            shutil.rmtree(hit.folder)
        return hit


def test_an_entry_removed_while_it_is_taken_is_a_miss(notes_registry, tmp_path, capsys) -> None:
    _loop(notes_registry, tmp_path / "one", cache=StageCache(tmp_path / "cache")).run()
    loop = _loop(notes_registry, tmp_path / "two", cache=VanishingCache(tmp_path / "cache"))
    loop.run()
    assert RAN == ["a", "b"]
    assert not any(loop.context.metrics[name].get("cached") for name in ("a", "b"))
    assert "could not be used" in capsys.readouterr().err
    assert len(list((tmp_path / "cache").glob("*/*/entry.json"))) == 2  # stored again


def test_a_damaged_entry_is_a_miss_and_is_replaced(notes_registry, tmp_path) -> None:
    cache = StageCache(tmp_path / "cache")
    _loop(notes_registry, tmp_path / "one", cache=cache).run()
    for entry_file in (tmp_path / "cache").glob("*/*/entry.json"):
        entry = json.loads(entry_file.read_text())
        entry["artifacts"][0].update(kind="model", spec={})  # a note is no checkpoint
        entry_file.write_text(json.dumps(entry))
    loop = _loop(notes_registry, tmp_path / "two", cache=cache)
    loop.run()
    assert RAN == ["a", "b"]
    assert "a_note" in loop.context.artifacts and "b_note" in loop.context.artifacts
    loop = _loop(notes_registry, tmp_path / "three", cache=cache)
    loop.run()
    assert RAN == []  # the entries computed by the second loop replaced the damaged ones
