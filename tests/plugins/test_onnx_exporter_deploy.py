"""The ``onnx`` exporter's deployment options: embedded preprocessing, metadata, onnxslim."""

from __future__ import annotations

import json

import numpy as np
import onnx
import onnxruntime as ort
import pydantic
import pytest
import torch
from compressor_exporters import OnnxOptions
from compressor_exporters.onnx_exporter import OnnxExporter
from compressor_exporters.preprocessing import normalized, raw_pixels
from torch import nn

from compressor.errors import StageFailure
from compressor.export_context import ExportContext

pytestmark = pytest.mark.filterwarnings(
    "ignore:You are using the legacy TorchScript:DeprecationWarning"
)

MEAN, STD = (0.3,), (0.4,)
CONTEXT = ExportContext(
    input_shape=(1, 8, 8),
    mean=MEAN,
    std=STD,
    class_names=tuple(str(i) for i in range(10)),
    dataset="digits",
    recipe_name="tiny",
    recipe_hash="0123456789abcdef",
    artifact="student",
)


@pytest.fixture(scope="module")
def model() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Flatten(), nn.Linear(64, 32), nn.ReLU(), nn.Linear(32, 10)).eval()


@pytest.fixture(scope="module")
def inputs() -> torch.Tensor:
    """Normalized samples of real 0..1 pixels, as a DataBundle holds them."""
    pixels = torch.rand(40, 1, 8, 8, generator=torch.Generator().manual_seed(1))
    return (pixels - MEAN[0]) / STD[0]


def _session(path):
    return ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])


@pytest.mark.parametrize("raw_input", ["uint8", "float"])
def test_embedded_preprocessing_takes_raw_pixels(tmp_path, model, inputs, raw_input) -> None:
    # TorchScript is enough to check the wrapper and ~20x faster than dynamo.
    options = OnnxOptions(embed_preprocessing=True, raw_input=raw_input, dynamo="off")
    facts = OnnxExporter(options).export(model, inputs, tmp_path / "m.onnx", context=CONTEXT)
    assert facts["input"]["embedded_preprocessing"] and facts["max_abs_error"] <= 1e-4
    # The normalization went into the first Linear: no elementwise pass over the input is left.
    assert facts["folded_preprocessing"]
    assert not {"Mul", "Add", "Sub", "Div"} & {
        n.op_type for n in onnx.load(str(tmp_path / "m.onnx")).graph.node
    }

    session = _session(tmp_path / "m.onnx")
    expected_type = "tensor(uint8)" if raw_input == "uint8" else "tensor(float)"
    assert session.get_inputs()[0].type == expected_type
    raw = raw_pixels(inputs[:7], MEAN, STD, raw_input)
    if raw_input == "uint8":
        assert raw.dtype == torch.uint8 and int(raw.max()) > 200  # really 0..255
    (logits,) = session.run(None, {"input": raw.numpy()})
    with torch.no_grad():
        reference = model(normalized(raw, MEAN, STD, raw_input)).numpy()
    np.testing.assert_allclose(logits, reference, atol=1e-4, rtol=0)
    meta = session.get_modelmeta().custom_metadata_map
    assert meta["normalization"] == "embedded" and meta["input_dtype"] == str(raw.numpy().dtype)


def test_metadata_says_what_a_deployment_needs(tmp_path, model, inputs) -> None:
    facts = OnnxExporter(OnnxOptions(dynamo="off")).export(
        model, inputs, tmp_path / "m.onnx", context=CONTEXT
    )
    meta = _session(tmp_path / "m.onnx").get_modelmeta().custom_metadata_map
    assert meta == facts["metadata"]
    assert meta["input_layout"] == "NCHW" and json.loads(meta["input_shape"]) == ["batch", 1, 8, 8]
    assert meta["normalization"] == "external" and json.loads(meta["mean"]) == [0.3]
    assert json.loads(meta["std"]) == [0.4] and json.loads(meta["class_names"])[9] == "9"
    assert meta["recipe"] == "tiny" and meta["recipe_hash"] == "0123456789abcdef"
    assert meta["torch_version"] == torch.__version__ and meta["exporter"] == "onnx (torchscript)"
    assert {"compressor_version", "onnx_version", "dataset", "input_range"} <= set(meta)


def test_metadata_without_context_still_describes_the_input(tmp_path, model, inputs) -> None:
    OnnxExporter(OnnxOptions(dynamo="off")).export(model, inputs, tmp_path / "m.onnx")
    meta = _session(tmp_path / "m.onnx").get_modelmeta().custom_metadata_map
    assert meta["input_dtype"] == "float32" and "recipe_hash" not in meta


def test_embedding_without_mean_and_std_fails_and_leaves_nothing(tmp_path, model, inputs) -> None:
    with pytest.raises(StageFailure, match="embed_preprocessing needs the dataset's mean and std"):
        OnnxExporter(OnnxOptions(embed_preprocessing=True, dynamo="off")).export(
            model, inputs, tmp_path / "m.onnx"
        )
    assert list(tmp_path.iterdir()) == []


def test_slim_is_checked_for_parity(tmp_path, model, inputs) -> None:
    facts = OnnxExporter(OnnxOptions(slim=True, dynamo="off")).export(
        model, inputs, tmp_path / "m.onnx", context=CONTEXT
    )
    assert facts["slim"]["nodes_after"] <= facts["slim"]["nodes_before"]
    assert facts["max_abs_error"] <= 1e-4
    assert _session(tmp_path / "m.onnx").get_modelmeta().custom_metadata_map["recipe"] == "tiny"


def test_raw_input_alone_is_rejected() -> None:
    with pytest.raises(pydantic.ValidationError, match="raw_input: uint8 only applies"):
        OnnxOptions(raw_input="uint8")
    # The resolved recipe spells the default out; it must validate again.
    assert OnnxOptions.model_validate(OnnxOptions().model_dump()).raw_input == "float"


def test_folding_can_be_turned_off(tmp_path, model, inputs) -> None:
    options = OnnxOptions(embed_preprocessing=True, fold_preprocessing=False, dynamo="off")
    facts = OnnxExporter(options).export(model, inputs, tmp_path / "m.onnx", context=CONTEXT)
    assert "folded_preprocessing" not in facts
    assert "Mul" in {n.op_type for n in onnx.load(str(tmp_path / "m.onnx")).graph.node}
