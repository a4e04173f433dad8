"""The load stage: a teacher trained in one run teaches in another; mismatches are clear errors."""

from __future__ import annotations

import random
from pathlib import Path

import pytest
import torch

from compressor import recipe
from compressor.errors import UsageError
from compressor.model.checkpoint import save_model
from compressor.run import pipeline
from compressor.run.progress import Progress


def test_teacher_from_an_earlier_run(registry, tiny_recipe, tmp_path) -> None:
    first = dict(tiny_recipe, stages=tiny_recipe["stages"][:1])
    plan = recipe.resolve(first, registry)
    earlier = pipeline.run(plan, registry, tmp_path / "first", progress=Progress(enabled=False))
    accuracy = earlier.metrics["stages"]["teacher"]["test_accuracy"]

    second = dict(
        tiny_recipe,
        stages=[
            {"name": "teacher", "type": "load", "path": str(tmp_path / "first" / "teacher.pt")},
            tiny_recipe["stages"][1],
        ],
    )
    result = pipeline.run(
        recipe.resolve(second, registry),
        registry,
        tmp_path / "second",
        progress=Progress(enabled=False),
    )
    stages = result.metrics["stages"]
    assert stages["teacher"]["test_accuracy"] == pytest.approx(accuracy)
    assert stages["distill"]["teachers"] == ["teacher"]

    mnist = dict(second, data={"dataset": "mnist"}, stages=second["stages"][:1])
    with pytest.raises(
        UsageError,
        match=r"stages.teacher.path: .* takes inputs shaped \(1, 8, 8\), but dataset 'mnist'",
    ):
        pipeline.run(
            recipe.resolve(mnist, registry),
            registry,
            tmp_path / "third",
            progress=Progress(enabled=False),
        )


class _Payload:
    """Unpickling this creates a marker file: proof that a checkpoint's code ran."""

    marker: Path

    def __reduce__(self):
        return (Path.touch, (self.marker,))


@pytest.mark.parametrize("damage", ["truncated", "random-bytes", "pickled-object"])
def test_load_stage_reports_a_bad_checkpoint_in_one_line(
    registry, tmp_path, tiny_recipe, write_recipe, capsys, damage
) -> None:
    from compressor.cli import main

    model = registry.get("model", "seed_mlp").build(
        registry.get("model", "seed_mlp").options.model_validate({"hidden": [8]}),
        input_shape=(1, 8, 8),
        num_classes=10,
    )
    data = save_model(
        model,
        {"name": "seed_mlp", "options": {"hidden": [8]}},
        tmp_path / "good.pt",
        input_shape=[1, 8, 8],
        num_classes=10,
    ).read_bytes()
    path = tmp_path / "teacher.pt"
    if damage == "truncated":
        path.write_bytes(data[: len(data) // 2])
    elif damage == "random-bytes":
        path.write_bytes(random.Random(1).randbytes(len(data)))
    else:
        payload = _Payload()
        payload.marker = tmp_path / "code-ran"
        torch.save({"format": "compressor.model", "spec": payload}, path)
    tiny_recipe["stages"] = [{"name": "teacher", "type": "load", "path": str(path)}]
    recipe_file = write_recipe(tiny_recipe)
    # validate checks the file too, and run refuses it before creating the run folder.
    for command in (["validate"], ["run", "--quiet", "--out", str(tmp_path / "run")]):
        code = main([command[0], str(recipe_file), *command[1:]])
        err = capsys.readouterr().err
        assert code == 2
        assert err.startswith(
            f"error: {recipe_file}: stages.teacher.path: {path}: not a loadable checkpoint"
        )
        assert err.count("\n") == 1 and "Traceback" not in err
    assert not (tmp_path / "code-ran").exists()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(("run", ".run"))]


def test_validate_checks_the_load_path(
    registry, tmp_path, tiny_recipe, write_recipe, capsys
) -> None:
    from compressor.cli import main

    tiny_recipe["stages"] = [
        {"name": "teacher", "type": "load", "path": str(tmp_path / "absent.pt")}
    ]
    assert main(["validate", str(write_recipe(tiny_recipe))]) == 2
    assert (
        f"stages.teacher.path: {tmp_path / 'absent.pt'}: no such checkpoint"
        in capsys.readouterr().err
    )
