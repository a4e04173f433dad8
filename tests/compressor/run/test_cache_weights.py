"""The stage cache keys on a weights file's content: a file replaced under its name reruns."""

from __future__ import annotations

import torch
from compressor_models.seed import SeedMLP

from compressor.testing.tiny_recipe import run_tiny_recipe


def test_a_changed_weights_file_reruns_the_stage(tmp_path) -> None:
    weights = tmp_path / "w.pt"
    stage = {
        "name": "t",
        "type": "train",
        "model": {"name": "seed_mlp", "options": {"hidden": [8]}, "weights": str(weights)},
        "epochs": 1,
    }
    cache = tmp_path / "cache"

    def run(folder: str):
        return run_tiny_recipe([stage], tmp_path=tmp_path / folder, cache_dir=cache)

    torch.manual_seed(0)
    torch.save(SeedMLP((1, 8, 8), 10, hidden=[8]).state_dict(), weights)
    assert not run("a").metrics["stages"]["t"].get("cached")
    assert run("b").metrics["stages"]["t"].get("cached") is True
    torch.manual_seed(1)
    torch.save(SeedMLP((1, 8, 8), 10, hidden=[8]).state_dict(), weights)
    assert not run("c").metrics["stages"]["t"].get("cached")
