"""A toy dataset, toy networks and toy losses the training-loop tests share."""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from compressor.data import DataBundle, Split
from compressor.schemas import OptimizerConfig
from compressor.training import FitResult, WeightedLoss, fit


class Bar:
    """A progress bar that draws nothing."""

    def advance(self, *args: Any, **kwargs: Any) -> None:
        pass


def bundle(n: int = 96) -> DataBundle:
    """``n`` random 1x8x8 images in 4 classes; train, validation and test are the same split."""
    g = torch.Generator().manual_seed(0)
    x = torch.randn(n, 1, 8, 8, generator=g)
    y = (x.mean((1, 2, 3)) > 0).long() + 2 * (x[:, 0, 0, 0] > 0).long()
    split = Split(x, y)
    return DataBundle(
        name="toy", train=split, val=split, test=split, num_classes=4, input_shape=(1, 8, 8)
    )


def net(width: int = 8) -> nn.Sequential:
    """A one-convolution classifier of :func:`bundle`'s images; ``"0"`` is the convolution."""
    return nn.Sequential(
        nn.Conv2d(1, width, 3, padding=1),
        nn.ReLU(),
        nn.AdaptiveAvgPool2d(2),
        nn.Flatten(),
        nn.Linear(4 * width, 4),
    )


class KL(nn.Module):
    """Distillation loss on logits."""

    def forward(self, student, teacher, targets):
        return nn.functional.kl_div(
            student.log_softmax(1), teacher.softmax(1), reduction="batchmean"
        )


class MSE(nn.Module):
    """Feature-matching loss."""

    def forward(self, student, teacher, targets):
        return nn.functional.mse_loss(student, teacher)


def fit_toy(
    student: nn.Module, teachers: list[nn.Module], losses: list[WeightedLoss], **kwargs: Any
) -> FitResult:
    """:func:`compressor.training.fit` on :func:`bundle` for two epochs, ``kwargs`` overriding."""
    defaults = {
        "data": bundle(),
        "epochs": 2,
        "optimizer": OptimizerConfig(lr=0.01),
        "batch_size": 32,
        "eval_batch_size": 64,
        "device": "cpu",
        "seed": 0,
        "bar": Bar(),
    }
    return fit(student, losses=losses, teachers=teachers, **{**defaults, **kwargs})
