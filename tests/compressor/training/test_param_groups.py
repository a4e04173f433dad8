"""``optimizer.param_groups``: a module's parameters with their own learning rate; frozen ones out."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from compressor.errors import UsageError
from compressor.schemas import OptimizerConfig
from compressor.training.optim import build_optimizer


def _net() -> nn.Sequential:
    return nn.Sequential(nn.Linear(4, 4), nn.ReLU(), nn.Linear(4, 2))


def test_groups_get_their_learning_rate_and_the_rest_the_base_one() -> None:
    model = _net()
    adapter = nn.Linear(2, 2)
    config = OptimizerConfig.model_validate(
        {"lr": 1e-4, "param_groups": [{"modules": ["2"], "lr": 0.1, "weight_decay": 0.01}]}
    )
    optimizer, _ = build_optimizer(
        [*model.parameters(), *adapter.parameters()], config, 10, model=model
    )
    head, rest = optimizer.param_groups
    assert {id(p) for p in head["params"]} == {id(p) for p in model[2].parameters()}
    assert head["lr"] == 0.1 and head["weight_decay"] == 0.01
    assert rest["lr"] == 1e-4 and rest["weight_decay"] == 0.0
    assert {id(p) for p in rest["params"]} == {
        id(p) for p in [*model[0].parameters(), *adapter.parameters()]
    }


def test_the_cosine_schedule_scales_every_group() -> None:
    model = _net()
    config = OptimizerConfig.model_validate(
        {"lr": 1e-3, "param_groups": [{"modules": ["0"], "lr": 1e-1}]}
    )
    optimizer, scheduler = build_optimizer(model.parameters(), config, 4, model=model)
    assert scheduler is not None
    for _ in range(2):
        optimizer.step()
        scheduler.step()
    assert [g["lr"] for g in optimizer.param_groups] == pytest.approx([0.05, 0.0005])


def test_frozen_parameters_are_left_out_and_unknown_paths_refused() -> None:
    model = _net()
    model[0].requires_grad_(False)
    optimizer, _ = build_optimizer(model.parameters(), OptimizerConfig(), 1, model=model)
    assert sum(len(g["params"]) for g in optimizer.param_groups) == 2
    bad = OptimizerConfig.model_validate({"param_groups": [{"modules": ["fc"], "lr": 0.1}]})
    with pytest.raises(
        UsageError, match=r"param_groups\[0\].modules\[0\]: 'fc' holds no parameter"
    ):
        build_optimizer(model.parameters(), bad, 1, model=model)
    assert torch.is_tensor(next(iter(model[2].parameters())))
