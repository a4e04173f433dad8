"""The ``classification`` task: top-1 accuracy counted once, for PyTorch and ONNX alike; the
contract check on a real tiny model; what ``predict`` reads from logits."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from compressor_tasks.classification import Classification, TopOneAccuracy

from compressor.plugin.registry import Registry
from compressor.testing import check_task, tiny_cnn, tiny_data_bundle
from compressor.training import evaluate


def test_top_one_accuracy_is_the_hand_count() -> None:
    logits = np.array([[2.0, 1.0, 0.0], [0.0, 3.0, 1.0], [0.5, 0.2, 0.9], [1.0, 0.0, 0.0]])
    labels = np.array([0, 2, 2, 1])  # right, wrong, right, wrong
    scorer = TopOneAccuracy()
    scorer.update([logits], labels)
    assert scorer.compute() == {"accuracy": 0.5}
    soft = np.eye(3)[labels] * 0.9 + 0.1 / 3  # mixup's soft targets count their largest entry
    mixed = TopOneAccuracy()
    mixed.update([logits], soft)
    assert mixed.compute() == {"accuracy": 0.5}
    assert np.isnan(TopOneAccuracy().compute()["accuracy"])


def test_evaluate_counts_what_a_known_model_predicts() -> None:
    # A model whose prediction is known: the class is the sign of the first pixel.
    class Sign(torch.nn.Module):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            first = x.flatten(1)[:, :1]
            return torch.cat([-first, first], dim=1)

    bundle = tiny_data_bundle(sizes=(8, 8, 30))
    x, y = bundle.test.x, bundle.test.y
    y.copy_((x.flatten(1)[:, 0] > 0).long())
    y[:6] = 1 - y[:6]  # six wrong on purpose
    assert evaluate(Sign(), bundle.test, 7, "cpu") == pytest.approx(24 / 30)


def test_check_task_passes_on_a_tiny_cnn() -> None:
    bundle = tiny_data_bundle()
    figures = check_task("classification", model=tiny_cnn(), data=bundle)
    assert 0.0 <= figures["accuracy"] <= 1.0


def test_logit_losses_apply_and_features_apply_everywhere() -> None:
    registry = Registry.load()
    task = Classification()
    for name in ("ce", "kd", "dkd", "fitnet", "rkd"):
        assert task.loss_problem(registry.get("loss", name)) is None
    assert task.default_losses(teacher=False) == [{"name": "ce"}]
    assert [t["name"] for t in task.default_losses(teacher=True)] == ["kd", "ce"]


def test_predictions_rank_classes_by_probability() -> None:
    logits = np.array([[0.0, 2.0, 1.0]], dtype=np.float32)
    (answer,) = Classification().predictions([logits], {"class_names": ["a", "b", "c"]}, top=2)
    assert [t["class"] for t in answer["top"]] == ["b", "c"]
    assert sum(t["probability"] for t in answer["top"]) < 1.0
    rows = Classification().table(answer)
    assert rows[0][:2] == ["1", "b"] and len(rows) == 2
