"""Resume: an interrupted run continues from its last completed epoch and ends as if never stopped."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from compressor import hookimpl, interrupt, recipe
from compressor.errors import StageFailure, UsageError
from compressor.interrupt import Interrupted
from compressor.plugin.registry import Registry
from compressor.run import pipeline
from tests.conftest import teacher_student_recipe

RECIPE: dict[str, Any] = teacher_student_recipe("resumable", exported=["student"], seed=3)
# Four distill epochs to stop in the middle of; a cosine schedule whose state must be saved.
RECIPE["stages"][1].update(epochs=4, optimizer={"lr": 0.01, "schedule": "cosine"})


def _plan(registry: Registry, write_recipe, raw: dict[str, Any]) -> recipe.Plan:
    return recipe.load(write_recipe(raw), registry)


def _interrupt_at(monkeypatch: pytest.MonkeyPatch, where: str, occurrence: int) -> None:
    """Press Ctrl-C (as the first SIGINT would) when the loop reaches ``where`` for the n-th time."""
    original = interrupt.check
    seen = {"count": 0}

    def check(at: str) -> None:
        if at == where:
            seen["count"] += 1
            if seen["count"] == occurrence:
                interrupt.request()
        original(at)

    monkeypatch.setattr(interrupt, "check", check)


def _figures(metrics: dict[str, Any]) -> dict[str, Any]:
    return {
        name: (
            stage.get("test_accuracy"),
            [(h["loss"], h["val_accuracy"]) for h in stage.get("history", [])],
        )
        for name, stage in metrics["stages"].items()
    }


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory) -> dict[str, Any]:
    folder = tmp_path_factory.mktemp("uninterrupted")
    registry = Registry.load()
    path = folder / "recipe.yaml"
    raw = copy.deepcopy(RECIPE)
    raw["data"]["augment"] = {"shift": 1}
    import yaml

    path.write_text(yaml.safe_dump(raw))
    result = pipeline.run(recipe.load(path, registry), registry, folder / "run")
    return result.metrics


def test_resumed_run_matches_the_uninterrupted_one(
    tmp_path: Path, registry, write_recipe, monkeypatch, uninterrupted
) -> None:
    raw = copy.deepcopy(RECIPE)
    raw["data"]["augment"] = {"shift": 1}
    plan = _plan(registry, write_recipe, raw)
    # Stop in the distill stage's third epoch: the teacher ran "epoch 3" never, distill once.
    _interrupt_at(monkeypatch, "epoch 3, step 4", occurrence=1)
    out = tmp_path / "run"
    with pytest.raises(Interrupted, match="epoch 3, step 4 of stage 'distill'") as caught:
        pipeline.run(plan, registry, out)
    kept = tmp_path / "run.failed"
    assert caught.value.kept_run_dir == kept
    assert json.loads((kept / "metrics.json").read_text())["status"] == "interrupted"
    assert [p.name for p in (kept / "checkpoints").iterdir()] == ["distill-0.pt"]
    assert [
        s["name"] for s in json.loads((kept / "completed_stages.json").read_text())["stages"]
    ] == ["teacher"]
    assert not list(kept.rglob("*.tmp"))
    assert not (kept / "student.pt").exists()  # never half-written

    monkeypatch.undo()
    result = pipeline.run(_plan(registry, write_recipe, raw), registry, resume=kept)
    assert result.run_dir == out and not kept.exists()
    assert result.metrics["stages"]["teacher"]["resumed"] is True
    assert _figures(result.metrics) == _figures(uninterrupted)
    assert not (out / "checkpoints").exists() and not (out / "completed_stages.json").exists()
    assert (out / "student.onnx").is_file()


def test_resume_refuses_a_different_recipe(tmp_path, registry, write_recipe, monkeypatch) -> None:
    _interrupt_at(monkeypatch, "epoch 1, step 2", occurrence=1)
    with pytest.raises(Interrupted):
        pipeline.run(_plan(registry, write_recipe, RECIPE), registry, tmp_path / "run")
    monkeypatch.undo()
    changed = copy.deepcopy(RECIPE)
    changed["stages"][1]["epochs"] = 9
    with pytest.raises(UsageError, match=r"stages\[1\]\.epochs \(4 then, 9 now\)"):
        pipeline.run(
            _plan(registry, write_recipe, changed), registry, resume=tmp_path / "run.failed"
        )
    assert (tmp_path / "run.failed").is_dir()  # left as it was


def test_resume_accepts_the_final_name_and_refuses_completed_runs(
    tmp_path, registry, write_recipe, monkeypatch
) -> None:
    _interrupt_at(monkeypatch, "epoch 1, step 2", occurrence=2)  # the distill stage
    with pytest.raises(Interrupted):
        pipeline.run(_plan(registry, write_recipe, RECIPE), registry, tmp_path / "run")
    monkeypatch.undo()
    result = pipeline.run(_plan(registry, write_recipe, RECIPE), registry, resume=tmp_path / "run")
    assert result.run_dir == tmp_path / "run"
    with pytest.raises(UsageError, match="this run completed"):
        pipeline.run(_plan(registry, write_recipe, RECIPE), registry, resume=tmp_path / "run")
    with pytest.raises(UsageError, match="no such run folder"):
        pipeline.run(_plan(registry, write_recipe, RECIPE), registry, resume=tmp_path / "nowhere")


def test_resume_with_out_is_a_usage_error(tmp_path, registry, write_recipe) -> None:
    with pytest.raises(UsageError, match="do not give --out"):
        pipeline.run(
            _plan(registry, write_recipe, RECIPE), registry, tmp_path / "a", resume=tmp_path / "b"
        )


def test_nan_loss_names_epoch_and_step_and_keeps_the_last_good_checkpoint(
    tmp_path, write_recipe
) -> None:
    class NanAfter:
        """A cross-entropy that turns NaN at its 40th call."""

        calls = 0

        @staticmethod
        @hookimpl
        def compressor_register_losses():
            from torch import nn

            from compressor.records import LossPlugin

            class Loss(nn.Module):
                def forward(self, student, teacher, targets):
                    NanAfter.calls += 1
                    loss = nn.functional.cross_entropy(student, targets)
                    return loss * float("nan") if NanAfter.calls >= 40 else loss

            return [
                LossPlugin(name="nan_after", factory=lambda options: Loss(), needs_teacher=False)
            ]

    registry = Registry.load(extra_plugins=[("nan_after", NanAfter)])
    raw = copy.deepcopy(RECIPE)
    raw["stages"] = [dict(raw["stages"][0], epochs=5, losses=[{"name": "nan_after"}])]
    with pytest.raises(StageFailure) as caught:
        pipeline.run(recipe.load(write_recipe(raw), registry), registry, tmp_path / "run")
    message = str(caught.value)
    # 19 training batches per epoch on the digits: call 40 is epoch 3, step 2.
    assert "the loss became nan at epoch 3, step 2" in message
    assert "checkpoint of epoch 2 is kept (checkpoints/teacher-0.pt)" in message
    kept = tmp_path / "run.failed" / "checkpoints" / "teacher-0.pt"
    import torch

    state = torch.load(kept, weights_only=True)
    assert state["epoch"] == 2
    assert all(torch.isfinite(t).all() for t in state["model"].values())
