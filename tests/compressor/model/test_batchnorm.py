"""BatchNorm statistics recomputed exactly, scored without them, and frozen with their module."""

from __future__ import annotations

import torch
from torch import nn

from compressor.model.batchnorm import batch_statistics, recalibrate
from compressor.model.freezing import frozen


def _net() -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(1, 3, 3), nn.BatchNorm2d(3, momentum=0.01), nn.Dropout(0.5))


def test_recalibration_gives_the_exact_statistics_of_the_batches() -> None:
    torch.manual_seed(0)
    model = _net().train()
    batches = [torch.randn(8, 1, 6, 6) * 3 + 5 for _ in range(4)]
    used = recalibrate(model, iter(batches), max_batches=3)
    assert used == 3
    with torch.no_grad():
        features = torch.cat([model[0](x) for x in batches[:3]])
    norm = model[1]
    assert torch.allclose(norm.running_mean, features.mean(dim=(0, 2, 3)), atol=1e-4)
    # Per-batch unbiased variances, averaged (what BatchNorm accumulates).
    per_batch = torch.stack([model[0](x).detach().var(dim=(0, 2, 3)) for x in batches[:3]])
    assert torch.allclose(norm.running_var, per_batch.mean(0), atol=1e-3)
    assert norm.momentum == 0.01 and model.training  # put back as they were
    assert model[2].training


def test_no_batch_keeps_the_statistics_as_they_were() -> None:
    model = _net()
    model[1].running_mean.fill_(2.0)
    assert recalibrate(model, iter([]), max_batches=5) == 0
    assert torch.equal(model[1].running_mean, torch.full((3,), 2.0))


def test_batch_statistics_leave_the_running_ones_untouched() -> None:
    model = _net().eval()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    x = torch.randn(8, 1, 6, 6) * 4 + 2
    with batch_statistics(model):
        out = model(x)
        assert model[1].training and not model[2].training  # dropout stays off
    # Normalized by the batch's own mean: each channel averages to its bias.
    assert torch.allclose(out.mean(dim=(0, 2, 3)), model[1].bias.detach(), atol=1e-5)
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())
    assert not model.training


def test_frozen_modules_keep_weights_and_statistics_then_train_again() -> None:
    model = _net()
    start = {k: v.clone() for k, v in model.state_dict().items()}
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    with frozen([model[1]]) as count:
        assert count == 2
        for _ in range(3):
            model.train()
            model(torch.randn(4, 1, 6, 6) + 3).sum().backward()
            optimizer.step()
            optimizer.zero_grad()
    trained = model.state_dict()
    for key in ("1.weight", "1.bias", "1.running_mean", "1.running_var"):
        assert torch.equal(trained[key], start[key]), key
    assert not torch.equal(trained["0.weight"], start["0.weight"])
    assert all(p.requires_grad for p in model.parameters())
    model.train()
    model(torch.randn(4, 1, 6, 6) + 3)
    assert not torch.equal(model[1].running_mean, start["1.running_mean"])
