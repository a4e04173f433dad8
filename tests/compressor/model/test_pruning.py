"""The pruning engine: ratios, MACs/parameter targets, iterative milestones, clear errors."""

from __future__ import annotations

import pytest
import torch
import torch_pruning as tp
from torch import nn

from compressor.errors import StageFailure, UsageError
from compressor.model.pruning import PruneSettings, measure, prune_model


def _cnn() -> nn.Sequential:
    torch.manual_seed(0)
    return nn.Sequential(
        nn.Conv2d(1, 32, 3, padding=1),
        nn.BatchNorm2d(32),
        nn.ReLU(),
        nn.Conv2d(32, 64, 3, padding=1),
        nn.BatchNorm2d(64),
        nn.ReLU(),
        nn.AdaptiveAvgPool2d(1),
        nn.Flatten(),
        nn.Linear(64, 10),
    )


def _prune(model: nn.Module, **settings) -> object:
    return prune_model(
        model,
        importance=tp.importance.GroupMagnitudeImportance(),
        example_inputs=torch.randn(2, 1, 8, 8),
        ignored_layers=[model[-1]],
        settings=PruneSettings(**settings),
    )


@pytest.mark.parametrize("goal", [0.5, 0.3])
def test_target_macs_is_met_and_reported(goal: float) -> None:
    model = _cnn()
    report = _prune(model, ratio=None, target_macs=goal)
    assert report.macs_fraction <= goal
    assert report.macs_fraction > goal - 0.15  # small steps: it stops soon after the target
    assert measure(model, torch.randn(1, 1, 8, 8))[0] == report.macs_after


def test_target_params_is_met() -> None:
    model = _cnn()
    report = _prune(model, ratio=None, target_params=0.4)
    assert report.params_fraction <= 0.4
    assert sum(p.numel() for p in model.parameters()) == report.params_after


def test_unreachable_target_says_what_was_reached() -> None:
    with pytest.raises(
        StageFailure,
        match=r"target_macs 0.001 cannot be met: .* reached 0\.\d+ of the original macs",
    ):
        _prune(_cnn(), ratio=None, target_macs=0.001, max_ratio=0.5)


def test_iterative_steps_call_back_between_milestones() -> None:
    model = _cnn()
    seen: list[tuple[int, int]] = []
    report = prune_model(
        model,
        importance=tp.importance.GroupMagnitudeImportance(),
        example_inputs=torch.randn(2, 1, 8, 8),
        ignored_layers=[model[-1]],
        settings=PruneSettings(ratio=0.5, iterative_steps=3),
        between_steps=lambda step: seen.append((step, model[0].out_channels)),
    )
    assert [s for s, _ in seen] == [1, 2]
    channels = [c for _, c in seen]
    assert channels[0] > channels[1] > model[0].out_channels == 16
    assert len(report.milestones) == 3


def test_per_module_ratio_and_round_to() -> None:
    model = _cnn()
    prune_model(
        model,
        importance=tp.importance.GroupMagnitudeImportance(),
        example_inputs=torch.randn(2, 1, 8, 8),
        ignored_layers=[model[-1]],
        settings=PruneSettings(ratio=0.0, ratio_dict={model[3]: 0.7}, round_to=8),
    )
    assert model[0].out_channels == 32  # untouched
    assert model[3].out_channels % 8 == 0 and model[3].out_channels < 64


def test_no_prunable_layer_is_a_clear_error() -> None:
    model = nn.Sequential(nn.Flatten(), nn.Linear(64, 10))
    with pytest.raises(UsageError, match="no prunable layer outside the ignored ones"):
        _prune(model, ratio=0.5)


class _Untraceable(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.stem = nn.Conv2d(1, 8, 3, padding=1)
        self.head = nn.Linear(8, 10)
        self.odd = _DataDependent()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.odd(self.stem(x)).mean((2, 3)))


class _DataDependent(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if torch.is_grad_enabled():  # torch-pruning traces with gradients on
            raise RuntimeError("this block cannot be traced")
        return x


def test_untraceable_model_names_the_module() -> None:
    model = _Untraceable()
    with pytest.raises(
        UsageError, match=r"cannot trace the dependency graph at module 'odd' \(_DataDependent\)"
    ):
        prune_model(
            model,
            importance=tp.importance.GroupMagnitudeImportance(),
            example_inputs=torch.randn(2, 1, 8, 8),
            ignored_layers=[model.head],
            settings=PruneSettings(ratio=0.5),
        )
