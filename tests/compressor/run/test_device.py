"""The device a recipe asks for, and the seeds that make a run repeat."""

from __future__ import annotations

import random

import pytest

from compressor.errors import UsageError
from compressor.run import pipeline
from compressor.run.device import resolve_device, seed_everything


def test_cuda_requested_without_cuda(monkeypatch) -> None:
    import torch

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert resolve_device("auto") == "cpu"
    with pytest.raises(UsageError, match="CUDA is not available"):
        resolve_device("cuda")


def test_seeding_repeats_python_numpy_and_torch() -> None:
    import numpy as np
    import torch

    def draws() -> tuple[float, float, float]:
        return random.random(), float(np.random.rand()), float(torch.rand(()))

    seed_everything(7)
    first = draws()
    seed_everything(7)
    assert draws() == first
    seed_everything(8)
    assert draws() != first


def test_the_helpers_stay_importable_from_the_pipeline() -> None:
    from compressor.run import folder

    assert pipeline.resolve_device is resolve_device
    assert pipeline.seed_everything is seed_everything
    assert pipeline.default_run_dir is folder.default_run_dir
