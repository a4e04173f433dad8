"""A training that does not learn is said while it runs: loss flat at chance, accuracy at chance."""

from __future__ import annotations

import math

from compressor.testing import run_tiny_recipe
from compressor.training.stall import stall_warning


def _history(losses: list[float], accuracy: float) -> list[dict[str, float]]:
    return [{"loss": loss, "val_accuracy": accuracy} for loss in losses]


def test_a_flat_loss_at_log_classes_and_chance_accuracy_is_a_stall() -> None:
    line = stall_warning(_history([2.3027, 2.3026, 2.3025], 0.1), 10)
    assert line is not None
    assert "log(10) = 2.303" in line and "chance is 10.0%" in line and "mean: auto" in line


def test_learning_or_not_yet_judged_is_no_stall() -> None:
    assert stall_warning(_history([2.30, 1.9, 1.2], 0.11), 10) is None  # the loss falls
    assert stall_warning(_history([2.30, 2.30, 2.30], 0.40), 10) is None  # above chance
    assert stall_warning(_history([2.30, 2.30], 0.10), 10) is None  # too early
    assert stall_warning(_history([2.30] * 4, 0.10), 10) is None  # said once, at epoch 3
    flat_elsewhere = stall_warning(_history([5.0, 5.0, 4.99], 0.1), 10)
    assert flat_elsewhere is not None and "log(10)" not in flat_elsewhere
    assert stall_warning(_history([math.nan] * 3, 0.1), 10) is None


def test_a_run_that_cannot_learn_says_why_in_its_metrics(tmp_path) -> None:
    stage = {
        "name": "teacher",
        "type": "train",
        "model": {"name": "seed_mlp", "options": {"hidden": [16]}},
        "epochs": 3,
        "optimizer": {"lr": 1e-9},  # nothing moves
    }
    run = run_tiny_recipe([stage], tmp_path=tmp_path)
    assert "the model is not learning" in run.metrics["stages"]["teacher"]["stalled"]
