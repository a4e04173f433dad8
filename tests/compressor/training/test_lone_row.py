"""A last training batch of one row on a model with BatchNorm layers: left out, not a crash."""

from __future__ import annotations

import dataclasses
import logging

import pytest
import torch
from torch import nn

from compressor.data import Split, StreamedSplit
from compressor.training import WeightedLoss
from compressor.training.passes import rows_per_pass, steps_per_pass
from tests.compressor.training.toy import bundle, fit_toy


class CE(nn.Module):
    def forward(self, student, teacher, targets):
        return nn.functional.cross_entropy(student, targets)


def bn_net() -> nn.Sequential:
    # BatchNorm1d after pooling to 1x1: one row gives one value per channel.
    return nn.Sequential(
        nn.Conv2d(1, 8, 3, padding=1), nn.AdaptiveAvgPool2d(1), nn.Flatten(),
        nn.BatchNorm1d(8), nn.ReLU(), nn.Linear(8, 4),
    )  # fmt: skip


def test_a_lone_last_row_sits_out_on_both_paths(caplog: pytest.LogCaptureFixture) -> None:
    data = bundle(97)  # 97 = 3 * 32 + 1
    assert isinstance(data.train, Split)
    streamed = dataclasses.replace(
        data,
        train=StreamedSplit(data.train, name="train", labels=data.train.y, input_shape=(1, 8, 8)),
    )
    students = []
    for served in (data, streamed):
        torch.manual_seed(0)
        student = bn_net()
        with caplog.at_level(logging.INFO, logger="compressor"):
            result = fit_toy(student, [], [WeightedLoss("ce", 1.0, CE(), False)], data=served)
        assert len(result.history) == 2
        students.append(student)
    assert sum("sits out" in r.getMessage() for r in caplog.records) == 2  # once per training
    for a, b in zip(students[0].parameters(), students[1].parameters(), strict=True):
        assert torch.equal(a, b)


def test_without_batchnorm_every_row_trains() -> None:
    assert rows_per_pass(97, 32, drop_lone_row=False) == 97
    assert rows_per_pass(97, 32, drop_lone_row=True) == 96
    assert rows_per_pass(98, 32, drop_lone_row=True) == 98
    assert rows_per_pass(1, 32, drop_lone_row=True) == 1  # nothing else to train on
    assert steps_per_pass(97, 32, drop_lone_row=True) == 3
    assert steps_per_pass(97, 32, drop_lone_row=False) == 4


def test_every_rank_leaves_out_its_lone_row(monkeypatch: pytest.MonkeyPatch) -> None:
    from compressor.training import distributed
    from compressor.training.passes import EpochBatches

    split = bundle(130).train  # 65 rows per rank of two; local batch 32: 32 + 32 + 1
    served = []
    for rank in (0, 1):
        place = distributed.DistributedInfo(rank=rank, world_size=2, local_rank=rank, device="cpu")
        monkeypatch.setattr(distributed, "_current", place)
        epochs = EpochBatches(64, 0, torch.Generator(), "cpu", drop_lone_row=True)
        sizes = [len(idx) for _, (idx, _, _) in epochs.mixed(split, None, epoch=1)]
        assert sizes == [32, 32] and epochs.steps(len(split)) == 2
        served.append(sizes)
    assert served[0] == served[1]
