"""A tiny trained teacher on the shipped digits, made once per session, and small searches."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest

from compressor.testing import run_tiny_recipe

#: A search that costs a few seconds: MLP families, one short epoch, one finalist.
SMALL_SEARCH: dict[str, Any] = {
    "name": "search",
    "type": "search",
    "inputs": {"teacher": "teacher"},
    "outputs": {"model": "student"},
    "model": {"name": "seed_mlp", "options": {"hidden": [16]}},
    "budget": {"size_bytes": 8000},
    "trials": 4,
    "space": {
        "width": {"low": 0.25, "high": 1.0},
        "prune_ratio": {"low": 0.3, "high": 0.7},
        "quantization": ["fp32"],
        "epochs": {"low": 2, "high": 2},
        "round_to": {"low": 1, "high": 1},
        "criteria": ["taylor", "magnitude"],  # the seed points prune by gradients
    },
    "screening": {
        "finalists": 1,
        "short_epochs": 1,
        "val_samples": 128,
        "train_samples": 384,
        "bn_batches": 2,
    },
    "timing": {"rounds": 2, "seconds": 0.02, "warmup": 2},
    "optimizer": {"lr": 0.01},
}


@pytest.fixture(scope="session")
def teacher_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A seed_mlp teacher trained on the digits (about 90% accuracy), as a checkpoint."""
    folder = tmp_path_factory.mktemp("teacher")
    run = run_tiny_recipe(
        [
            {
                "name": "teacher",
                "type": "train",
                "model": {"name": "seed_mlp", "options": {"hidden": [32]}},
                "epochs": 6,
                "optimizer": {"lr": 0.01},
            }
        ],
        tmp_path=folder,
    )
    return run.run_dir / "teacher.pt"


def search_stages(teacher: Path, **changes: Any) -> list[dict[str, Any]]:
    """A load stage for ``teacher`` and :data:`SMALL_SEARCH` with ``changes`` merged in
    (one level deep for mappings)."""
    search = copy.deepcopy(SMALL_SEARCH)
    for key, value in changes.items():
        if isinstance(value, dict) and isinstance(search.get(key), dict):
            search[key] = {**search[key], **value}
        else:
            search[key] = value
    return [{"name": "teacher", "type": "load", "path": str(teacher)}, search]
