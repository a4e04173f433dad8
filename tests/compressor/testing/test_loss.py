"""check_loss: passes on the built-in losses and fails, clearly, on broken losses."""

from __future__ import annotations

from typing import Any

import pytest
import torch
from torch import nn

from compressor.records import LossPlugin
from compressor.testing import check_loss


@pytest.mark.parametrize(("name", "zero"), [("kd", True), ("mse_logits", True), ("ce", False)])
def test_builtin_losses_pass(name: str, zero: bool) -> None:
    assert check_loss(name, zero_when_equal=zero) >= 0


def test_ce_is_not_zero_at_equality_and_the_check_says_so() -> None:
    with pytest.raises(
        AssertionError, match="'ce' is .* when the student's logits equal the teacher's"
    ):
        check_loss("ce", zero_when_equal=True)


def test_loss_options_are_validated_by_the_record() -> None:
    check_loss("kd", {"temperature": 2.0}, zero_when_equal=True)
    with pytest.raises(AssertionError, match="'kd': options .*rejected by its schema KDOptions"):
        check_loss("kd", {"temprature": 2.0})


class PerSample(nn.Module):
    def forward(self, s: torch.Tensor, t: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return (s - t).pow(2).mean(dim=1)  # forgot to reduce over the batch


class Detached(nn.Module):
    def forward(self, s: torch.Tensor, t: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return (s.detach() - t).pow(2).mean()


class NaiveSoftmax(nn.Module):
    def forward(self, s: torch.Tensor, t: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        p, q = torch.exp(s) / torch.exp(s).sum(1, keepdim=True), torch.softmax(t, 1)
        return (q * (q.log() - p.log())).sum(1).mean()  # overflows for large logits


class InPlace(nn.Module):
    def forward(self, s: torch.Tensor, t: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        t.sub_(t.mean(1, keepdim=True))
        return (s - t).pow(2).mean()


class NeedsTeacherAnyway(nn.Module):
    def forward(self, s: torch.Tensor, t: torch.Tensor | None, y: torch.Tensor) -> torch.Tensor:
        return (s - t).pow(2).mean()


@pytest.mark.parametrize(
    ("loss", "message"),
    [
        (PerSample(), "must return a scalar .*got shape \\[8\\]"),
        (Detached(), "is not differentiable"),
        (NaiveSoftmax(), "returned nan on large logits"),
        (InPlace(), "modified its inputs in place"),
        (lambda options: "not a module", "has no forward"),
    ],
)
def test_broken_losses_fail_with_a_clear_message(loss: Any, message: str) -> None:
    with pytest.raises(AssertionError, match=message):
        check_loss(loss)


def test_a_loss_without_teacher_gets_none() -> None:
    record = LossPlugin(
        name="broken_ce", factory=lambda options: NeedsTeacherAnyway(), needs_teacher=False
    )
    with pytest.raises(AssertionError, match="'broken_ce' raised on random logits.*TypeError"):
        check_loss(record)
