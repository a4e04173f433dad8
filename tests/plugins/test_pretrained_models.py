"""Starting from weights in train and distill stages: heads, freezing, parameter groups, and
BatchNorm statistics that match the data at the end."""

from __future__ import annotations

import json
import sys
import types

import pytest
import torch
from compressor_models.seed import SeedCNN
from torch import nn

from compressor.model.batchnorm import batch_statistics
from compressor.model.checkpoint import load_model
from compressor.testing.tiny_recipe import run_tiny_recipe

CNN = {"channels": [8, 16], "hidden": 32}


def _seed_cnn_weights(tmp_path, num_classes: int = 3):
    torch.manual_seed(1)
    model = SeedCNN((1, 8, 8), num_classes, channels=[8, 16], hidden=32)
    torch.save(
        {"model": {f"module.{k}": v for k, v in model.state_dict().items()}}, tmp_path / "w.pt"
    )
    return model, str(tmp_path / "w.pt")


def test_fine_tuning_pretrained_weights_with_a_new_head_frozen_backbone_and_groups(
    registry, tmp_path
) -> None:
    pretrained, weights = _seed_cnn_weights(tmp_path)
    stage = {
        "name": "tuned",
        "type": "train",
        "model": {"name": "seed_cnn", "options": CNN, "weights": weights, "head": "replace"},
        "epochs": 1,
        "freeze": ["features"],
        "optimizer": {"lr": 1e-4, "param_groups": [{"modules": ["classifier"], "lr": 0.01}]},
    }
    run = run_tiny_recipe([stage], tmp_path=tmp_path)
    metrics = run.metrics["stages"]["tuned"]
    assert metrics["weights"]["head"] == {
        "replaced": "classifier.4",
        "weights_classes": 3,
        "classes": 10,
    }
    assert metrics["weights"]["stripped"] == "module."
    assert metrics["frozen"] == {"modules": ["features"], "tensors": 6}
    model, _ = load_model(run.run_dir / "tuned.pt", registry)
    trained, start = model.state_dict(), pretrained.state_dict()
    # The frozen backbone is exactly the pretrained one, BatchNorm statistics included.
    for key in ("features.0.weight", "features.1.running_mean", "features.5.running_var"):
        assert torch.equal(trained[key], start[key]), key
    assert not torch.equal(trained["classifier.1.weight"], start["classifier.1.weight"])
    assert trained["classifier.4.weight"].shape == (10, 32)
    assert metrics["test_accuracy"] > 0.3


def test_strict_false_lists_the_keys_in_metrics_and_on_the_console(tmp_path, capsys) -> None:
    _, weights = _seed_cnn_weights(tmp_path, num_classes=10)
    state = torch.load(weights, weights_only=True)["model"]
    del state["module.classifier.1.bias"]
    state["module.aux.weight"] = torch.zeros(2)
    torch.save(state, tmp_path / "partial.pt")
    model = {"name": "seed_cnn", "options": CNN, "weights": str(tmp_path / "partial.pt")}
    stage = {"name": "t", "type": "train", "model": model, "epochs": 1}
    failed = run_tiny_recipe([stage], tmp_path=tmp_path / "a", expect_error=True)
    assert "stages.t.model.weights" in str(failed.error) and "strict: false" in str(failed.error)
    capsys.readouterr()
    run = run_tiny_recipe([{**stage, "model": {**model, "strict": False}}], tmp_path=tmp_path / "b")
    saved = json.loads((run.run_dir / "metrics.json").read_text())["stages"]["t"]["weights"]
    assert saved["missing_keys"] == ["classifier.1.bias"]
    assert saved["unexpected_keys"] == ["aux.weight"]
    err = capsys.readouterr().err + capsys.readouterr().out
    assert "missing (kept as built): classifier.1.bias; unexpected (ignored): aux.weight" in err


def test_mobilenet_v3_small_evaluates_as_it_trains_after_recalibration(registry, tmp_path) -> None:
    # The case, test-sized: BatchNorm momentum 0.01 and a short schedule leave the
    # running statistics far from the data, and eval mode scores near chance.
    stage = {
        "name": "mobile",
        "type": "train",
        "model": "torchvision.mobilenet_v3_small",
        "epochs": 2,
        "optimizer": {"lr": 0.003},
        "recalibrate_bn": {"batches": 12},
    }
    data = {
        "dataset": "digits",
        "batch_size": 64,
        "options": {"val_fraction": 0.2, "test_fraction": 0.3},
    }
    run = run_tiny_recipe([stage], data=data, tmp_path=tmp_path)
    metrics = run.metrics["stages"]["mobile"]
    figures = metrics["bn_recalibration"]
    assert figures["batches"] == 12
    model, _ = load_model(run.run_dir / "mobile.pt", registry)
    record = registry.get("dataset", "digits")
    test = record.build(record.options.model_validate(data["options"]), seed=0).test
    with torch.no_grad(), batch_statistics(model):
        training_mode = (model(test.x).argmax(1) == test.y).float().mean().item()
    assert training_mode > 0.5
    assert figures["val_accuracy_before"] < training_mode - 0.2  # the statistics lagged
    assert metrics["test_accuracy"] > training_mode - 0.05  # within 5 points after
    assert figures["val_accuracy_after"] > figures["val_accuracy_before"] + 0.2


class LaggingNet(nn.Module):
    """A small CNN whose BatchNorm barely moves (momentum 0.001), as MobileNet's does."""

    def __init__(self, num_classes: int, input_shape) -> None:
        super().__init__()
        self.conv = nn.Conv2d(input_shape[0], 16, 3, padding=1)
        # Activations far from the initial running statistics (mean 0, variance 1).
        generator = torch.Generator().manual_seed(0)
        self.register_buffer("scale", 1 + 9 * torch.rand(1, 16, 1, 1, generator=generator))
        self.register_buffer("shift", 200 * torch.rand(1, 16, 1, 1, generator=generator) - 100)
        self.bn = nn.BatchNorm2d(16, momentum=0.001)
        self.fc = nn.Linear(16 * 64, num_classes)

    def forward(self, x):
        return self.fc(torch.relu(self.bn(self.conv(x) * self.scale + self.shift)).flatten(1))


@pytest.fixture
def lagging_net(monkeypatch):
    module = types.ModuleType("compressor_test_lagging")
    module.LaggingNet = LaggingNet
    monkeypatch.setitem(sys.modules, "compressor_test_lagging", module)
    return "compressor_test_lagging:LaggingNet"


def test_lagging_statistics_warn_and_recalibration_fixes_them(
    lagging_net, tmp_path, capsys
) -> None:
    stage = {
        "name": "t",
        "type": "train",
        "model": lagging_net,
        "epochs": 2,
        "optimizer": {"lr": 0.003},
    }
    run = run_tiny_recipe([stage], tmp_path=tmp_path / "a")
    lag = run.metrics["stages"]["t"]["bn_statistics_lag"]
    assert lag["batch_statistics"] > lag["val_accuracy"] + 0.1
    out = capsys.readouterr()
    assert "add recalibrate_bn: {batches: 20} to the stage" in out.err + out.out
    fixed = run_tiny_recipe([{**stage, "recalibrate_bn": {"batches": 10}}], tmp_path=tmp_path / "b")
    metrics = fixed.metrics["stages"]["t"]
    assert "bn_statistics_lag" not in metrics
    after = metrics["bn_recalibration"]["val_accuracy_after"]
    assert after > metrics["bn_recalibration"]["val_accuracy_before"] + 0.1
    assert after >= lag["batch_statistics"] - 0.05


class NormedMLP(nn.Module):
    """BatchNorm1d: a batch of one row cannot be normalized by its own statistics."""

    def __init__(self, num_classes: int, input_shape) -> None:
        super().__init__()
        self.net = nn.Sequential(nn.Flatten(), nn.Linear(64, 16), nn.BatchNorm1d(16), nn.ReLU())
        self.fc = nn.Linear(16, num_classes)

    def forward(self, x):
        return self.fc(self.net(x))


def test_batchnorm1d_with_a_batch_of_one_left_over(monkeypatch, tmp_path) -> None:
    module = types.ModuleType("compressor_test_normed")
    module.NormedMLP = NormedMLP
    monkeypatch.setitem(sys.modules, "compressor_test_normed", module)
    # digits: 269 validation rows in chunks of 268 leave one row over.
    data = {"dataset": "digits", "batch_size": 64, "eval_batch_size": 268}
    stage = {"name": "t", "type": "train", "model": "compressor_test_normed:NormedMLP", "epochs": 1}
    for extra in ({}, {"recalibrate_bn": {"batches": 20}}):
        folder = tmp_path / str(len(extra))
        run = run_tiny_recipe([{**stage, **extra}], data=data, tmp_path=folder)
        assert 0 <= run.metrics["stages"]["t"]["test_accuracy"] <= 1
    assert run.metrics["stages"]["t"]["bn_recalibration"]["batches"] == 19
