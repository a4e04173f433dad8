"""The ``onnx`` exporter on tiny real models: dynamic batch, parity, atomic failure, options."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pydantic
import pytest
import torch
from compressor_exporters import OnnxOptions, compressor_register_exporters
from compressor_exporters.example_batches import TRACE_BATCH, example_batches
from compressor_exporters.onnx_exporter import OnnxExporter
from compressor_exporters.onnx_parity import require_parity
from torch import nn

from compressor.errors import StageFailure


class TinyCNN(nn.Module):
    """Conv, batch norm (fused by the exporters), pooling, linear head."""

    def __init__(self) -> None:
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(1, 8, 3, padding=1),
            nn.BatchNorm2d(8),
            nn.ReLU(),
            nn.MaxPool2d(2),
            nn.Conv2d(8, 16, 3, padding=1),
            nn.ReLU(),
            nn.AdaptiveAvgPool2d(1),
            nn.Flatten(),
        )
        self.head = nn.Linear(16, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x))


class TinyMLP(nn.Module):
    """Flatten, two linear layers, dropout (must be inactive in the export)."""

    def __init__(self) -> None:
        super().__init__()
        self.net = nn.Sequential(
            nn.Flatten(), nn.Linear(64, 32), nn.ReLU(), nn.Dropout(0.5), nn.Linear(32, 10)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


class BatchDependent(nn.Module):
    """A model whose forward branches on the batch size: correct at the traced size only.

    A real bug class (e.g. code special-casing a batch of 2). torch.export pins the batch axis
    (so auto mode falls back), and TorchScript tracing bakes the branch in, so only the
    parity check at another batch size catches it.
    """

    def __init__(self) -> None:
        super().__init__()
        self.head = nn.Linear(64, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        logits = self.head(x.flatten(1))
        if x.shape[0] == 2:
            return -logits
        return logits


def _trained_state(model: nn.Module) -> nn.Module:
    """Give batch norm non-trivial running statistics, as a trained model has."""
    torch.manual_seed(0)
    model.train()
    with torch.no_grad():
        for _ in range(3):
            model(torch.randn(32, 1, 8, 8) * 2 + 0.5)
    return model.eval()


@pytest.fixture(scope="module")
def inputs() -> torch.Tensor:
    return torch.randn(64, 1, 8, 8, generator=torch.Generator().manual_seed(1))


def _run(path: Path, x: torch.Tensor) -> np.ndarray:
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    assert [i.name for i in session.get_inputs()] == ["input"]
    assert [o.name for o in session.get_outputs()] == ["logits"]
    return session.run(None, {"input": x.numpy()})[0]


@pytest.mark.parametrize("make_model", [TinyCNN, TinyMLP], ids=["cnn", "mlp"])
def test_export_runs_in_onnxruntime_at_any_batch(tmp_path, inputs, make_model) -> None:
    torch.manual_seed(0)
    model = _trained_state(make_model())
    path = tmp_path / "model.onnx"
    facts = OnnxExporter(OnnxOptions()).export(model, inputs, path)

    assert facts["exporter"] == "onnx" and facts["method"] == "dynamo" and facts["opset"] == 18
    assert facts["parity_batch"] == 64 and facts["parity_batch"] != facts["trace_batch"]
    assert facts["max_abs_error"] <= 1e-4 and facts["top1_agreement"] >= 0.99
    assert facts["file_bytes"] == path.stat().st_size
    # One self-contained file, nothing else left in the folder.
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model.onnx"]
    proto = onnx.load(str(path), load_external_data=False)
    assert not any(t.data_location == onnx.TensorProto.EXTERNAL for t in proto.graph.initializer)
    assert not any(n.metadata_props for n in proto.graph.node)  # no stack traces shipped

    with torch.no_grad():
        for batch in (1, 37):
            x = inputs[:batch]
            np.testing.assert_allclose(_run(path, x), model(x).numpy(), atol=1e-4, rtol=0)
    assert model.training is False  # the caller's model is left as it was


def test_torchscript_method_and_older_opset(tmp_path, inputs) -> None:
    model = _trained_state(TinyCNN())
    off = OnnxExporter(OnnxOptions(dynamo="off")).export(model, inputs, tmp_path / "off.onnx")
    assert off["method"] == "torchscript" and "fallback_reason" not in off
    # Auto mode goes straight to TorchScript for opsets the dynamo exporter cannot write.
    old = OnnxExporter(OnnxOptions(opset=17)).export(model, inputs, tmp_path / "old.onnx")
    assert old["method"] == "torchscript" and old["opset"] == 17
    assert onnx.load(str(tmp_path / "old.onnx")).opset_import[0].version == 17
    assert _run(tmp_path / "old.onnx", inputs[:5]).shape == (5, 10)


def test_parity_failure_raises_and_leaves_no_file(tmp_path, inputs) -> None:
    target = tmp_path / "bad.onnx"
    with pytest.raises(StageFailure) as caught:
        OnnxExporter(OnnxOptions()).export(BatchDependent().eval(), inputs, target)
    message = str(caught.value)
    assert "parity check failed" in message and "\n" not in message
    assert "atol 0.0001" in message and "on 64 samples" in message
    assert list(tmp_path.iterdir()) == []  # no file at the path, no temporary left behind


def test_parity_batch_differs_from_traced_batch(tmp_path, inputs) -> None:
    # With exactly two samples a batch-size bug would hide at the traced size: one more row
    # is added for the check.
    with pytest.raises(StageFailure, match="on 3 samples"):
        OnnxExporter(OnnxOptions()).export(BatchDependent().eval(), inputs[:2], tmp_path / "b.onnx")
    assert list(tmp_path.iterdir()) == []


def test_example_batches_trace_two_and_check_at_another_size() -> None:
    one = torch.arange(4.0).view(1, 1, 2, 2)
    _, trace, parity = example_batches(one, exporter="ONNX export")
    assert len(trace) == TRACE_BATCH and torch.equal(trace[1], one[0]) and len(parity) == 1
    _, _, parity = example_batches(torch.randn(TRACE_BATCH, 3), exporter="ONNX export")
    assert len(parity) == TRACE_BATCH + 1
    with pytest.raises(StageFailure, match="^torch.export needs at least one example input$"):
        example_batches(torch.empty(0, 3), exporter="torch.export")


def test_a_nan_error_fails_the_parity_check() -> None:
    where = {"samples": 3, "file_name": "m.onnx", "method": "dynamo", "fallback_reason": None}
    require_parity(0.0, 1.0, OnnxOptions(), **where)
    with pytest.raises(StageFailure, match=r"max \|onnx - torch\| = nan"):
        require_parity(float("nan"), 1.0, OnnxOptions(), **where)


def test_top1_tolerance_is_enforced(tmp_path, inputs, monkeypatch) -> None:
    # An exporter whose logits drift enough to flip classes: shift the ONNX side only.
    model = TinyMLP().eval()
    real_run = ort.InferenceSession.run

    def drifting_run(self, output_names, feed, run_options=None):
        outputs = real_run(self, output_names, feed, run_options)
        flipped = outputs[0].copy()
        flipped[:, 0] += 100.0  # every sample now predicts class 0
        return [flipped]

    monkeypatch.setattr(ort.InferenceSession, "run", drifting_run)
    options = OnnxOptions(atol=1e3)  # the absolute error alone would pass
    with pytest.raises(StageFailure, match=r"top-1 agreement .* \(min 99\.00%\)"):
        OnnxExporter(options).export(model, inputs, tmp_path / "drift.onnx")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    "options",
    [
        {"atol": 0},
        {"atol": -1e-3},
        {"opset": 12},
        {"opset": 24},
        {"min_top1_agreement": 0},
        {"min_top1_agreement": 1.5},
        {"dynamo": "maybe"},
        {"dynamo": "on", "opset": 17},
        {"dynamo": "off", "opset": 21},
        {"unknown": 1},
    ],
)
def test_options_validation_rejects(options) -> None:
    with pytest.raises(pydantic.ValidationError):
        OnnxOptions.model_validate(options)


def test_registration_record() -> None:
    record = next(r for r in compressor_register_exporters() if r.name == "onnx")
    assert record.name == "onnx" and record.suffix == ".onnx" and record.options is OnnxOptions
    assert isinstance(record.build(OnnxOptions()), OnnxExporter)
