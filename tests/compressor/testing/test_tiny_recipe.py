"""run_tiny_recipe: a real run in-process, with the lifecycle hook calls of the plugins under test."""

from __future__ import annotations

import types

import pytest

from compressor import hookimpl
from compressor.errors import StageFailure
from compressor.records import StagePlugin
from compressor.testing import TinyRun, run_tiny_recipe

TEACHER = {
    "name": "teacher",
    "type": "train",
    "model": {"name": "seed_mlp", "options": {"hidden": [16]}},
    "epochs": 1,
}
STUDENT = {**TEACHER, "name": "student"}


class Notes:
    """A third party's plugin: it notes every stage in the metrics."""

    @hookimpl
    def compressor_before_stage(self, stage, context) -> None:
        pass

    @hookimpl
    def compressor_after_stage(self, stage, context, seconds) -> None:
        context.metrics[stage.name]["noted"] = True


class Broken:
    """A stage that always fails, and an error hook."""

    def run(self, ctx) -> None:
        raise StageFailure("deliberately broken")

    @hookimpl
    def compressor_register_stages(self) -> list[StagePlugin]:
        return [StagePlugin(name="broken", factory=lambda options: Broken())]

    @hookimpl
    def compressor_on_stage_error(self, stage, context, error) -> None:
        pass


def test_a_run_records_the_hooks_of_the_given_plugins(tmp_path) -> None:
    run = run_tiny_recipe([TEACHER, STUDENT], plugins=[Notes()], tmp_path=tmp_path)
    assert isinstance(run, TinyRun) and run.error is None
    assert run.calls == {
        "Notes": [
            ("compressor_before_stage", "teacher"),
            ("compressor_after_stage", "teacher"),
            ("compressor_before_stage", "student"),
            ("compressor_after_stage", "student"),
        ]
    }
    assert run.run_dir == tmp_path / "run" and (run.run_dir / "teacher.pt").is_file()
    assert run.metrics["status"] == "completed" and run.metrics["stages"]["student"]["noted"]
    assert (run.run_dir / "report.md").is_file()


def test_hooks_fire_for_stages_taken_from_the_cache(tmp_path) -> None:
    first = run_tiny_recipe(
        [TEACHER], plugins=[("notes", Notes())], tmp_path=tmp_path / "a", cache_dir=tmp_path / "c"
    )
    again = run_tiny_recipe(
        [TEACHER], plugins=[("notes", Notes())], tmp_path=tmp_path / "b", cache_dir=tmp_path / "c"
    )
    assert not first.metrics["stages"]["teacher"].get("cached")
    assert again.metrics["stages"]["teacher"]["cached"] is True
    assert (
        again.calls
        == first.calls
        == {
            "notes": [("compressor_before_stage", "teacher"), ("compressor_after_stage", "teacher")]
        }
    )


def test_a_failing_run_returns_its_error_and_the_error_hook(tmp_path) -> None:
    stages = [TEACHER, {"name": "oops", "type": "broken"}]
    run = run_tiny_recipe(stages, plugins=[Broken()], tmp_path=tmp_path, expect_error=True)
    assert isinstance(run.error, StageFailure) and "deliberately broken" in str(run.error)
    assert run.calls["Broken"] == [("compressor_on_stage_error", "oops")]
    assert run.run_dir.name == "run.failed" and run.metrics["status"] == "failed"
    with pytest.raises(AssertionError, match=r"the tiny run failed: StageFailure: deliber"):
        run_tiny_recipe(stages, plugins=[Broken()], tmp_path=tmp_path / "again")
    with pytest.raises(AssertionError, match="expected the tiny run to fail, but it completed"):
        run_tiny_recipe([TEACHER], tmp_path=tmp_path / "fine", expect_error=True)


def test_an_invalid_recipe_or_plugin_is_an_assertion(tmp_path) -> None:
    with pytest.raises(AssertionError, match=r"does not validate: stages\[0\].type: unknown"):
        run_tiny_recipe([{"type": "trian"}], tmp_path=tmp_path)
    with pytest.raises(AssertionError, match="plugin 'nope' is not installed; installed: "):
        run_tiny_recipe([TEACHER], plugins=["nope"], tmp_path=tmp_path)
    raises = types.SimpleNamespace(
        __name__="raises", compressor_register_losses=hookimpl(lambda: 1 / 0)
    )
    with pytest.raises(AssertionError, match="plugin 'raises' did not load: .*ZeroDivisionError"):
        run_tiny_recipe([TEACHER], plugins=[raises], tmp_path=tmp_path)


def test_an_installed_plugin_module_is_recorded_not_registered_twice(tmp_path) -> None:
    import compressor_stages

    run = run_tiny_recipe([TEACHER], plugins=[compressor_stages], tmp_path=tmp_path)
    assert run.calls == {"compressor_stages": []}  # it implements no lifecycle hook
