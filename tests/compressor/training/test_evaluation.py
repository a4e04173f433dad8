"""Validation accuracy: in one process, and the sharded form torchrun's ranks share."""

from __future__ import annotations

import math

import pytest
import torch

from compressor.data import Split, StreamedSplit
from compressor.training import evaluate, predict_logits
from compressor.training.evaluation import evaluate_sharded
from tests.compressor.training.toy import bundle, net


class FirstPixelClass(torch.nn.Module):
    """Predicts the class written in each image's first pixel: its answers are known."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.nn.functional.one_hot(x.flatten(1)[:, 0].long(), 3).float()


def known_split() -> tuple[Split, list[int]]:
    """13 images whose first pixel is the predicted class, and labels that agree on 8 of them."""
    predicted = [0, 1, 2, 2, 1, 0, 0, 1, 2, 0, 1, 2, 1]
    labels = [0, 1, 2, 0, 1, 0, 2, 1, 1, 0, 0, 2, 2]  # wrong at 3, 6, 8, 10, 12
    x = torch.zeros(len(predicted), 1, 2, 2)
    x[:, 0, 0, 0] = torch.tensor(predicted, dtype=torch.float32)
    return Split(x, torch.tensor(labels)), predicted


@pytest.mark.parametrize("batch_size", [1, 4, 13, 64])  # 4: a last batch of one
@pytest.mark.parametrize("streamed", [False, True])
def test_accuracy_is_the_hand_count(batch_size: int, streamed: bool) -> None:
    split, predicted = known_split()
    data = (
        StreamedSplit(split, name="known", labels=split.y, input_shape=(1, 2, 2), num_workers=0)
        if streamed
        else split
    )
    model = FirstPixelClass()
    assert predict_logits(model, split.x, batch_size, "cpu").argmax(1).tolist() == predicted
    assert evaluate(model, data, batch_size, "cpu") == 8 / 13
    assert evaluate_sharded(model, data, batch_size, "cpu") == 8 / 13


def test_one_process_sharded_accuracy_is_the_plain_one() -> None:
    torch.manual_seed(0)
    model, split = net(), bundle().val
    accuracy = evaluate(model, split, 40, "cpu")
    assert 0.0 <= accuracy <= 1.0
    assert math.isclose(evaluate_sharded(model, split, 40, "cpu"), accuracy, rel_tol=1e-6)


def test_empty_split_scores_nan_and_the_mode_is_put_back() -> None:
    model = net().train()
    empty = Split(torch.empty(0, 1, 8, 8), torch.empty(0, dtype=torch.long))
    assert math.isnan(evaluate(model, empty, 8, "cpu"))
    assert math.isnan(evaluate_sharded(model, empty, 8, "cpu"))
    assert predict_logits(model, bundle().val.x, 40, "cpu").shape == (96, 4)
    assert model.training
