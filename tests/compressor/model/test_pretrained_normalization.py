"""Named pretrained weights fed data normalized otherwise: a warning that says what to set."""

from __future__ import annotations

import pytest
import torch
import torchvision

from compressor.model.building import normalization_mismatch
from compressor.testing import run_tiny_recipe
from tests.compressor.cli.test_predict import ColoursPlugin

IMAGENET = {"mean": [0.485, 0.456, 0.406], "std": [0.229, 0.224, 0.225]}


def test_the_mismatch_names_both_normalizations_and_the_fix() -> None:
    said = normalization_mismatch(IMAGENET, (0.5,), (0.25,))
    assert said == (
        "the weights were trained on inputs normalized with mean [0.485, 0.456, 0.406] and std "
        "[0.229, 0.224, 0.225], but the data is normalized with mean [0.5] and std [0.25]; set "
        "data.preprocess.mean: [0.485, 0.456, 0.406] and data.preprocess.std: "
        "[0.229, 0.224, 0.225] to feed the weights what they learned on"
    )
    assert normalization_mismatch(IMAGENET, (0.4851, 0.456, 0.406), (0.229, 0.224, 0.225)) is None
    assert normalization_mismatch({"input_size": [3, 224, 224]}, (0.5,), (0.25,)) is None
    assert normalization_mismatch(IMAGENET, (0.5, 0.5), (1.0, 1.0)) is not None


def _run(tmp_path, capsys, preprocess):
    weights = torchvision.models.MobileNet_V3_Small_Weights.IMAGENET1K_V1
    cached = tmp_path / "torch" / "hub" / "checkpoints" / weights.url.rsplit("/", 1)[1]
    if not cached.is_file():
        cached.parent.mkdir(parents=True)
        torch.save(torchvision.models.mobilenet_v3_small(num_classes=1000).state_dict(), cached)
    train = {
        "name": "model",
        "type": "train",
        "model": {
            "name": "torchvision.mobilenet_v3_small",
            "weights": "DEFAULT",
            "head": "replace",
        },
        "epochs": 1,
    }
    run = run_tiny_recipe(
        [train],
        plugins=[("colours_plugin", ColoursPlugin())],
        data={"dataset": "colours", "batch_size": 32, "num_workers": 0, "preprocess": preprocess},
        tmp_path=tmp_path / str(len(preprocess)),
    )
    return run.metrics["stages"]["model"]["weights"], capsys.readouterr()


@pytest.fixture
def torch_home(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    return tmp_path


def test_a_run_warns_when_the_data_keeps_its_own_statistics(torch_home, capsys) -> None:
    weights, out = _run(torch_home, capsys, {"resize": [32, 32]})
    assert "stages.model.model: the weights were trained on inputs normalized with mean" in (
        out.out + out.err
    )
    assert weights["normalization_mismatch"].startswith("the weights were trained")

    weights, out = _run(torch_home, capsys, {"resize": [32, 32], **IMAGENET})
    assert "normalization_mismatch" not in weights
    assert "the weights were trained" not in out.out + out.err


def test_from_weights_takes_the_weights_preparation_for_what_the_recipe_leaves_unset(
    torch_home, capsys
) -> None:
    preprocess = {"resize": [40, 40], "center_crop": 32, "from_weights": "model"}
    weights, out = _run(torch_home, capsys, preprocess)
    assert "normalization_mismatch" not in weights
    assert "the weights were trained" not in out.out + out.err


def test_from_weights_fills_every_unset_field_and_keeps_the_given_ones(
    registry, write_recipe
) -> None:
    from compressor import recipe
    from compressor.preflight import data_config

    def plan(preprocess):
        stage = {
            "name": "teacher",
            "type": "train",
            "model": {"name": "torchvision.resnet18", "weights": "IMAGENET1K_V1"},
            "epochs": 1,
        }
        raw = {"version": 1, "name": "w", "data": {"dataset": "digits", "preprocess": preprocess}}
        return recipe.load(write_recipe({**raw, "stages": [stage]}), registry)

    filled = data_config(plan({"from_weights": "teacher"}), registry).preprocess
    assert (filled.resize, filled.center_crop, filled.interpolation) == (
        256,
        [224, 224],
        "bilinear",
    )
    assert (filled.mean, filled.std) == (IMAGENET["mean"], IMAGENET["std"])
    kept = data_config(plan({"from_weights": "teacher", "resize": 64, "center_crop": 56}), registry)
    assert (kept.preprocess.resize, kept.preprocess.center_crop) == (64, 56)
    with pytest.raises(Exception) as caught:
        data_config(plan({"from_weights": "student"}), registry)
    assert str(caught.value) == (
        "data.preprocess.from_weights: stage 'student' has no model with named pretrained "
        "weights (weights: DEFAULT, IMAGENET1K_V1, ...); valid choices: teacher"
    )
