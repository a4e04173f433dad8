"""The load stage: a teacher trained in one run teaches in another; mismatches are clear errors."""

from __future__ import annotations

import random
import warnings
from pathlib import Path

import pytest
import torch

from compressor import recipe
from compressor.errors import UsageError
from compressor.model.checkpoint import save_model
from compressor.plugin.registry import Registry
from compressor.run import pipeline
from compressor.run.progress import Progress
from compressor.testing.tiny_recipe import run_tiny_recipe
from compressor.training import evaluate


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


def _trained_seed_cnn(tmp_path: Path):
    """A seed_cnn trained a few steps with batch statistics moving, saved as a bare state_dict."""
    from compressor_models.seed import SeedCNN

    torch.manual_seed(0)
    model = SeedCNN((1, 8, 8), 10, channels=[8, 16], hidden=32)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.05)
    for _ in range(3):
        x, y = torch.randn(32, 1, 8, 8), torch.randint(0, 10, (32,))
        torch.nn.functional.cross_entropy(model(x), y).backward()
        optimizer.step()
        optimizer.zero_grad()
    torch.save(model.state_dict(), tmp_path / "mine.pt")
    return model.eval(), tmp_path / "mine.pt"


def test_a_model_and_its_weights_load_as_they_are(tmp_path) -> None:
    original, weights = _trained_seed_cnn(tmp_path)
    model = {"name": "seed_cnn", "options": {"channels": [8, 16], "hidden": 32}}
    stage = {"name": "teacher", "type": "load", "model": model, "weights": str(weights)}
    run = run_tiny_recipe([stage], tmp_path=tmp_path)
    loaded = run.metrics["stages"]["teacher"]
    assert loaded["weights"] == {"source": str(weights), "loaded": len(original.state_dict())}
    assert loaded["source"] == str(weights)
    # Nothing trained, no statistic touched: the stage scores exactly what the file scores.
    registry = Registry.load()
    digits = registry.get("dataset", "digits")
    test = digits.build(digits.options.model_validate({}), seed=0).test
    assert loaded["test_accuracy"] == evaluate(original, test, 256, "cpu")
    assert "weights:" in (run.run_dir / "recipe.yaml").read_text()


@pytest.mark.parametrize(
    ("stage", "message"),
    [
        ({"path": "a.pt", "model": "seed_mlp", "weights": "w.pt"}, "not both"),
        ({"model": "seed_mlp"}, "model: needs weights:"),
        ({"path": "a.pt", "weights": "w.pt"}, "weights: and strict: go with model:"),
        (
            {"model": {"name": "seed_mlp", "head": "replace"}, "weights": "w.pt"},
            "a load stage does not train",
        ),
    ],
)
def test_load_options_say_which_source_to_give(registry, tiny_recipe, stage, message) -> None:
    tiny_recipe["stages"] = [{"name": "teacher", "type": "load", **stage}]
    with pytest.raises(UsageError, match=message):
        recipe.resolve(tiny_recipe, registry)


def test_an_onnx_file_teaches(tmp_path) -> None:
    teacher_run = run_tiny_recipe(
        [
            {
                "name": "teacher",
                "type": "train",
                "model": {"name": "seed_cnn", "options": {"channels": [8, 16], "hidden": 32}},
                "epochs": 2,
                "optimizer": {"lr": 0.01},
            },
            {"name": "export", "type": "export", "inputs": {"models": ["teacher"]}},
        ],
        tmp_path=tmp_path / "first",
    )
    onnx_file = teacher_run.run_dir / "teacher.onnx"
    stages = [
        {"name": "teacher", "type": "load", "path": str(onnx_file)},
        {
            "name": "distill",
            "type": "distill",
            "inputs": {"teacher": "teacher"},
            "model": {"name": "seed_mlp", "options": {"hidden": [32]}},
            "epochs": 2,
            "optimizer": {"lr": 0.01},
            "augment": {"shift": 1},
        },
    ]
    run = run_tiny_recipe(stages, tmp_path=tmp_path / "second")
    metrics = run.metrics["stages"]
    torch_accuracy = teacher_run.metrics["stages"]["teacher"]["test_accuracy"]
    assert metrics["teacher"]["test_accuracy"] == pytest.approx(torch_accuracy, abs=0.01)
    assert metrics["teacher"]["params"] > 1000
    assert metrics["distill"]["teacher_backends"] == ["onnxruntime"]
    assert metrics["distill"]["test_accuracy"] > 0.5


def test_an_onnx_teacher_for_other_data_is_refused_before_training(
    tmp_path, capsys, write_recipe, tiny_recipe
) -> None:
    from compressor.cli import main

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the TorchScript exporter's deprecation notice
        torch.onnx.export(
            torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(784, 10)),
            (torch.zeros(2, 1, 28, 28),),
            str(tmp_path / "mnist.onnx"),
            dynamo=False,
            input_names=["input"],
        )
    tiny_recipe["stages"] = [
        {"name": "teacher", "type": "load", "path": str(tmp_path / "mnist.onnx")}
    ]
    assert main(["validate", str(write_recipe(tiny_recipe))]) == 2
    err = capsys.readouterr().err
    assert "stages.teacher.path: mnist.onnx takes inputs of shape [2, 1, 28, 28]" in err
    assert err.count("\n") == 1
