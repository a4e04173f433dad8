"""Per-epoch training checkpoints: everything the next epoch depends on comes back."""

from __future__ import annotations

import random

import numpy as np
import pytest
import torch
from torch import nn

from compressor.errors import StageFailure
from compressor.training.epoch_checkpoint import EpochCheckpoint


def _objects(seed: int):
    torch.manual_seed(seed)
    model = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 3))
    adapters = {1: nn.Linear(3, 3)}
    optimizer = torch.optim.SGD(
        list(model.parameters()) + list(adapters[1].parameters()), lr=0.1, momentum=0.9
    )
    scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=10)
    generator = torch.Generator().manual_seed(seed)
    return model, adapters, optimizer, scheduler, generator


def _step(model, optimizer, scheduler) -> None:
    loss = model(torch.randn(5, 4)).pow(2).mean()
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()
    scheduler.step()


def _draws(generator: torch.Generator) -> tuple:
    return (
        random.random(),
        float(np.random.rand()),
        torch.rand(1).item(),
        torch.rand(1, generator=generator).item(),
    )


def test_restore_brings_back_weights_optimizer_schedule_and_every_rng(tmp_path) -> None:
    model, adapters, optimizer, scheduler, generator = _objects(0)
    _step(model, optimizer, scheduler)
    checkpoint = EpochCheckpoint(tmp_path / "checkpoints" / "stage-0.pt")
    history = [{"epoch": 1, "loss": 0.5, "val_accuracy": 0.9, "seconds": 1.0}]
    checkpoint.save(
        epoch=1,
        model=model,
        adapters=adapters,
        optimizer=optimizer,
        scheduler=scheduler,
        generator=generator,
        history=history,
        seen=5,
        elapsed=1.5,
    )
    expected_draws = _draws(generator)
    _step(model, optimizer, scheduler)
    expected_weights = [p.detach().clone() for p in model.parameters()]

    fresh = _objects(1)  # different weights and generators until restored
    state = checkpoint.restore(
        model=fresh[0],
        adapters=fresh[1],
        optimizer=fresh[2],
        scheduler=fresh[3],
        generator=fresh[4],
    )
    assert state is not None and (state.epoch, state.seen, state.elapsed) == (1, 5, 1.5)
    assert state.history == history
    assert fresh[3].last_epoch == 1
    assert torch.equal(fresh[1][1].weight, adapters[1].weight)
    assert _draws(fresh[4]) == expected_draws
    _step(fresh[0], fresh[2], fresh[3])  # same momentum, same lr, same random batch
    for got, want in zip(fresh[0].parameters(), expected_weights, strict=True):
        assert torch.equal(got, want)


def test_no_file_means_start_from_scratch(tmp_path) -> None:
    model, adapters, optimizer, scheduler, generator = _objects(0)
    assert (
        EpochCheckpoint(tmp_path / "none.pt").restore(
            model=model,
            adapters=adapters,
            optimizer=optimizer,
            scheduler=scheduler,
            generator=generator,
        )
        is None
    )


@pytest.mark.parametrize("damage", ["truncate", "garbage", "other_model"])
def test_damaged_checkpoint_is_a_clear_error(tmp_path, damage) -> None:
    model, adapters, optimizer, scheduler, generator = _objects(0)
    path = tmp_path / "stage-0.pt"
    checkpoint = EpochCheckpoint(path)
    checkpoint.save(
        epoch=1,
        model=model,
        adapters=adapters,
        optimizer=optimizer,
        scheduler=scheduler,
        generator=generator,
        history=[],
        seen=0,
        elapsed=0.0,
    )
    if damage == "truncate":
        path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    elif damage == "garbage":
        path.write_bytes(b"\x00garbage" * 100)
    else:
        model = nn.Sequential(nn.Linear(4, 2))
        optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    with pytest.raises(
        StageFailure, match=r"stage-0\.pt: cannot resume from this checkpoint.*delete it"
    ):
        checkpoint.restore(
            model=model,
            adapters=adapters,
            optimizer=optimizer,
            scheduler=scheduler,
            generator=generator,
        )


def test_checkpoint_refuses_pickled_code(tmp_path) -> None:
    marker = tmp_path / "code-ran"

    class Evil:
        def __reduce__(self):
            return (marker.write_text, ("pwned",))

    path = tmp_path / "evil.pt"
    torch.save({"format": "compressor.training", "payload": Evil()}, path)
    model, adapters, optimizer, scheduler, generator = _objects(0)
    with pytest.raises(StageFailure, match="cannot resume"):
        EpochCheckpoint(path).restore(
            model=model,
            adapters=adapters,
            optimizer=optimizer,
            scheduler=scheduler,
            generator=generator,
        )
    assert not marker.exists()
