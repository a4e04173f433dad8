"""Magnitude pruning on real tiny models: fewer parameters, still runs, right channels kept."""

from __future__ import annotations

import pytest
import torch
from torch import nn


def _pruner(registry, **options):
    record = registry.get("pruner", "magnitude")
    return record.build(record.options.model_validate(options))


def _mlp() -> nn.Sequential:
    torch.manual_seed(0)
    return nn.Sequential(nn.Flatten(), nn.Linear(64, 32), nn.ReLU(), nn.Linear(32, 10))


def test_prunes_half_the_hidden_units_and_keeps_the_classifier(registry) -> None:
    model = _mlp()
    x = torch.randn(3, 1, 8, 8)
    pruned = _pruner(registry, ratio=0.5).prune(model, x, [model[3]])
    assert pruned[1].out_features == 16 and pruned[3].in_features == 16
    assert pruned[3].out_features == 10
    assert pruned(x).shape == (3, 10)


@pytest.mark.parametrize("norm", ["l1", "l2"])
def test_keeps_the_largest_units(registry, norm: str) -> None:
    model = _mlp()
    with torch.no_grad():
        model[1].weight.mul_(0.01)
        model[1].weight[:4].mul_(1000.0)  # four units with by far the largest weights
        model[3].weight.mul_(0.01)
        model[3].weight[:, :4].mul_(1000.0)
    kept = model[1].weight[:4].clone()
    _pruner(registry, ratio=0.75, importance=norm).prune(model, torch.randn(2, 1, 8, 8), [model[3]])
    assert model[1].out_features == 8
    survivors = {tuple(row.tolist()) for row in model[1].weight}
    assert all(tuple(row.tolist()) in survivors for row in kept)


def test_conv_net_with_batchnorm(registry) -> None:
    torch.manual_seed(0)
    model = nn.Sequential(
        nn.Conv2d(1, 16, 3, padding=1), nn.BatchNorm2d(16), nn.ReLU(),
        nn.Conv2d(16, 32, 3, padding=1), nn.BatchNorm2d(32), nn.ReLU(),
        nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(32, 10),
    )
    before = sum(p.numel() for p in model.parameters())
    x = torch.randn(2, 1, 8, 8)
    _pruner(registry, ratio=0.5, round_to=4).prune(model, x, [model[8]])
    assert model[0].out_channels == 8 and model[1].num_features == 8 and model[3].out_channels == 16
    assert sum(p.numel() for p in model.parameters()) < before / 2.5
    assert model(x).shape == (2, 10)


def test_ratio_zero_changes_nothing(registry) -> None:
    model = _mlp()
    state = {k: v.clone() for k, v in model.state_dict().items()}
    _pruner(registry, ratio=0.0).prune(model, torch.randn(2, 1, 8, 8), [model[3]])
    assert all(torch.equal(state[k], v) for k, v in model.state_dict().items())
