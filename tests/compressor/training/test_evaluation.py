"""Validation accuracy: in one process, and the sharded form torchrun's ranks share."""

from __future__ import annotations

import math

import torch

from compressor.data import Split
from compressor.training import evaluate, predict_logits
from compressor.training.evaluation import evaluate_sharded
from tests.compressor.training.toy import bundle, net


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
