"""check_stage: passes on a built-in stage and fails, clearly, on broken stages."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import torch

from compressor.artifacts import FileArtifact
from compressor.records import Role, StagePlugin
from compressor.testing import check_stage


def test_builtin_train_stage_passes(tmp_path: Path) -> None:
    result = check_stage(
        "train",
        {"model": {"name": "seed_mlp", "options": {"hidden": [16]}}, "epochs": 1},
        run_dir=tmp_path,
    )
    assert result.published == ["check"] and (tmp_path / "check.pt").is_file()
    assert 0.0 <= result.metrics["test_accuracy"] <= 1.0


def test_stage_options_resolve_against_the_registry(tmp_path: Path) -> None:
    with pytest.raises(AssertionError, match="unknown model 'seed_mpl'"):
        check_stage("train", {"model": {"name": "seed_mpl"}}, run_dir=tmp_path)


class PrunesInPlace:
    def __init__(self, options: Any) -> None:
        pass

    def run(self, ctx: Any) -> None:
        model = ctx.input("model").model
        with torch.no_grad():
            model[-1].weight.zero_()  # corrupts the artifact later stages read


class PublishesNothing:
    def __init__(self, options: Any) -> None:
        pass

    def run(self, ctx: Any) -> None:
        (ctx.run_dir / ".half.tmp").write_text("")


class PublishesAMissingFile:
    def __init__(self, options: Any) -> None:
        pass

    def run(self, ctx: Any) -> None:
        name = ctx.output_name("report")
        ctx.publish(FileArtifact(name=name, path=ctx.run_dir / name))


@pytest.mark.parametrize(
    ("factory", "outputs", "message"),
    [
        (PrunesInPlace, {}, "modified its input model 'model' in place"),
        (
            PublishesNothing,
            {"report": Role("a file")},
            "did not publish its declared output\\(s\\): check",
        ),
        (
            PublishesAMissingFile,
            {"report": Role("a file")},
            "published 'check' but .* does not exist",
        ),
    ],
)
def test_broken_stages_fail_with_a_clear_message(
    tmp_path: Path, factory: Any, outputs: dict, message: str
) -> None:
    record = StagePlugin(
        name="broken", factory=factory, inputs={"model": Role("a model")}, outputs=outputs
    )
    with pytest.raises(AssertionError, match=message):
        check_stage(record, run_dir=tmp_path)


def test_a_stage_that_raises_is_reported(tmp_path: Path) -> None:
    class Raises:
        def __init__(self, options: Any) -> None:
            pass

        def run(self, ctx: Any) -> None:
            raise RuntimeError("boom")

    with pytest.raises(AssertionError, match="stage 'raises' failed: RuntimeError: boom"):
        check_stage(StagePlugin(name="raises", factory=Raises), run_dir=tmp_path)


def test_outputs_are_named_as_a_recipe_names_them(tmp_path: Path) -> None:
    record = StagePlugin(
        name="writes",
        factory=PublishesAMissingFile,
        outputs={"report": Role("a file")},
    )
    with pytest.raises(AssertionError, match="stage 'writes': outputs do not resolve: .*reprot"):
        check_stage(record, outputs={"reprot": "notes"}, run_dir=tmp_path)
    with pytest.raises(AssertionError, match="outputs do not resolve: .*takes one artifact name"):
        check_stage(record, outputs={"report": ["a", "b"]}, run_dir=tmp_path)
