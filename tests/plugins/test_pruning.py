"""Every built-in pruning criterion on real tiny models: it ranks sensibly and really removes."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from compressor.model.pruning import PruneSettings, prune_model

CRITERIA = ["magnitude", "taylor", "bn_scale", "lamp", "fpgm", "random"]


def _criterion(registry, name: str, **options):
    record = registry.get("pruner", name)
    return record.build(record.options.model_validate(options))


def _cnn() -> nn.Sequential:
    torch.manual_seed(0)
    return nn.Sequential(
        nn.Conv2d(1, 16, 3, padding=1),
        nn.BatchNorm2d(16),
        nn.ReLU(),
        nn.Conv2d(16, 32, 3, padding=1),
        nn.BatchNorm2d(32),
        nn.ReLU(),
        nn.AdaptiveAvgPool2d(1),
        nn.Flatten(),
        nn.Linear(32, 10),
    )


def _gradients(model: nn.Module) -> None:
    x, y = torch.randn(16, 1, 8, 8), torch.randint(0, 10, (16,))
    nn.functional.cross_entropy(model(x), y).backward()


@pytest.mark.parametrize("name", CRITERIA)
def test_every_criterion_halves_a_conv_net(registry, name: str) -> None:
    model = _cnn()
    criterion = _criterion(registry, name)
    x = torch.randn(2, 1, 8, 8)
    report = prune_model(
        model,
        importance=criterion.importance(),
        example_inputs=x,
        ignored_layers=[model[8]],
        settings=PruneSettings(ratio=0.5),
        gradient_fn=_gradients if criterion.needs_gradients else None,
    )
    assert model[0].out_channels == 8 and model[1].num_features == 8 and model[3].out_channels == 16
    assert model[8].out_features == 10
    assert report.params_after < report.params_before / 2.5
    assert model(x).shape == (2, 10)


@pytest.mark.parametrize(
    ("name", "options"),
    [("magnitude", {"norm": "l1"}), ("magnitude", {"norm": "l2"}), ("lamp", {})],
)
def test_norm_criteria_keep_the_largest_units(registry, name: str, options: dict) -> None:
    torch.manual_seed(0)
    model = nn.Sequential(nn.Flatten(), nn.Linear(64, 32), nn.ReLU(), nn.Linear(32, 10))
    with torch.no_grad():
        model[1].weight.mul_(0.01)
        model[1].weight[:4].mul_(1000.0)  # four units with by far the largest weights
        model[3].weight.mul_(0.01)
        model[3].weight[:, :4].mul_(1000.0)
    kept = model[1].weight[:4].clone()
    prune_model(
        model,
        importance=_criterion(registry, name, **options).importance(),
        example_inputs=torch.randn(2, 1, 8, 8),
        ignored_layers=[model[3]],
        settings=PruneSettings(ratio=0.75),
    )
    assert model[1].out_features == 8
    survivors = {tuple(row.tolist()) for row in model[1].weight}
    assert all(tuple(row.tolist()) in survivors for row in kept)


def test_bn_scale_keeps_the_largest_gammas_and_refuses_models_without_batchnorm(registry) -> None:
    model = _cnn()
    with torch.no_grad():
        model[1].weight.fill_(0.01)
        model[1].weight[[3, 5, 7, 11]] = 5.0
        model[1].bias.zero_()
        model[1].bias[[3, 5, 7, 11]] = torch.tensor([1.0, 2.0, 3.0, 4.0])
    criterion = _criterion(registry, "bn_scale")
    prune_model(
        model,
        importance=criterion.importance(),
        example_inputs=torch.randn(2, 1, 8, 8),
        ignored_layers=[model[8]],
        settings=PruneSettings(ratio=0.75),
    )
    assert set(model[1].bias.tolist()) >= {1.0, 2.0, 3.0, 4.0}
    mlp = nn.Sequential(nn.Flatten(), nn.Linear(4, 4))
    assert "no BatchNorm" in criterion.check_model(mlp)


def test_random_is_seeded(registry) -> None:
    kept = []
    for _ in range(2):
        model = _cnn()
        prune_model(
            model,
            importance=_criterion(registry, "random", seed=3).importance(),
            example_inputs=torch.randn(2, 1, 8, 8),
            ignored_layers=[model[8]],
            settings=PruneSettings(ratio=0.5),
        )
        kept.append(model[0].weight.detach().clone())
    assert torch.equal(kept[0], kept[1])
