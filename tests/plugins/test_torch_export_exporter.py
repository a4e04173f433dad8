"""The ``torch_export`` exporter: a .pt2 program that reloads and matches the model."""

from __future__ import annotations

import io
import json

import pytest
import torch
from compressor_exporters import TorchExportOptions, compressor_register_exporters
from compressor_exporters.torch_export_exporter import TorchExportExporter
from torch import nn

from compressor.errors import StageFailure
from compressor.export_context import ExportContext


class BatchDependent(nn.Module):
    """Correct at the traced batch size only: torch.export cannot keep the batch dynamic."""

    def __init__(self) -> None:
        super().__init__()
        self.head = nn.Linear(64, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        logits = self.head(x.flatten(1))
        return -logits if x.shape[0] == 2 else logits


def test_program_reloads_at_any_batch_and_carries_the_context(tmp_path) -> None:
    torch.manual_seed(0)
    model = nn.Sequential(nn.Flatten(), nn.Linear(64, 16), nn.ReLU(), nn.Linear(16, 10)).eval()
    x = torch.randn(9, 1, 8, 8)
    path = tmp_path / "student.pt2"
    facts = TorchExportExporter().export(
        model, x, path, context=ExportContext(mean=(0.1,), std=(0.2,), recipe_hash="abc")
    )
    assert facts["exporter"] == "torch_export" and facts["max_abs_error"] <= 1e-5
    assert facts["file_bytes"] == path.stat().st_size
    assert sorted(p.name for p in tmp_path.iterdir()) == ["student.pt2"]
    extra = {"compressor.json": ""}
    loaded = torch.export.load(io.BytesIO(path.read_bytes()), extra_files=extra).module()
    with torch.no_grad():
        torch.testing.assert_close(loaded(x[:5]), model(x[:5]))
    described = json.loads(extra["compressor.json"])
    assert described["recipe_hash"] == "abc" and described["input_shape"] == ["batch", 1, 8, 8]


def test_a_batch_dependent_model_fails_and_leaves_nothing(tmp_path) -> None:
    with pytest.raises(StageFailure, match="torch.export"):
        TorchExportExporter().export(
            BatchDependent().eval(), torch.randn(8, 1, 8, 8), tmp_path / "b.pt2"
        )
    assert list(tmp_path.iterdir()) == []


def test_registered_beside_onnx() -> None:
    records = {r.name: r for r in compressor_register_exporters()}
    assert records["torch_export"].suffix == ".pt2"
    assert records["torch_export"].options is TorchExportOptions
