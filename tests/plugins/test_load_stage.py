"""The load stage: a teacher trained in one run teaches in another; mismatches are clear errors."""

from __future__ import annotations

import pytest

from compressor import pipeline, recipe
from compressor.errors import UsageError
from compressor.progress import Progress


def test_teacher_from_an_earlier_run(registry, tiny_recipe, tmp_path) -> None:
    first = dict(tiny_recipe, stages=tiny_recipe["stages"][:1])
    plan = recipe.resolve(first, registry)
    earlier = pipeline.run(plan, registry, tmp_path / "first", progress=Progress(enabled=False))
    accuracy = earlier.metrics["stages"]["teacher"]["test_accuracy"]

    second = dict(
        tiny_recipe,
        stages=[{"name": "teacher", "type": "load", "path": str(tmp_path / "first" / "teacher.pt")},
                tiny_recipe["stages"][1]],
    )
    result = pipeline.run(recipe.resolve(second, registry), registry, tmp_path / "second",
                          progress=Progress(enabled=False))
    stages = result.metrics["stages"]
    assert stages["teacher"]["test_accuracy"] == pytest.approx(accuracy)
    assert stages["distill"]["teachers"] == ["teacher"]

    mnist = dict(second, data={"dataset": "mnist"}, stages=second["stages"][:1])
    with pytest.raises(UsageError, match=r"stages.teacher.path: .* takes inputs shaped \(1, 8, 8\), but dataset 'mnist'"):
        pipeline.run(recipe.resolve(mnist, registry), registry, tmp_path / "third", progress=Progress(enabled=False))
