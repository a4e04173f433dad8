"""Fixtures of the bench tests: a tiny MLP exported to ONNX, and a split that fits it."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from torch import nn

from compressor.data import Split


@pytest.fixture(scope="module")
def model_and_file(tmp_path_factory) -> tuple[nn.Module, Path]:
    torch.manual_seed(0)
    model = nn.Sequential(nn.Flatten(), nn.Linear(16, 12), nn.ReLU(), nn.Linear(12, 3)).eval()
    path = tmp_path_factory.mktemp("bench") / "mlp.onnx"
    # The legacy exporter is enough here and is ~20x faster than the dynamo one.
    torch.onnx.export(
        model,
        (torch.randn(2, 1, 4, 4),),
        str(path),
        dynamo=False,
        input_names=["input"],
        output_names=["logits"],
        dynamic_axes={"input": {0: "batch"}, "logits": {0: "batch"}},
    )
    return model, path


@pytest.fixture(scope="module")
def split() -> Split:
    g = torch.Generator().manual_seed(3)
    return Split(
        x=torch.randn(203, 1, 4, 4, generator=g), y=torch.randint(0, 3, (203,), generator=g)
    )
