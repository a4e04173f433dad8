"""compressor.onnx.inspection: input description, raw-pixel feeding, params and MACs, bad files."""

from __future__ import annotations

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from compressor.errors import UsageError
from compressor.onnx import inspection


def _model(input_type=TensorProto.FLOAT, batch="batch", meta=None) -> onnx.ModelProto:
    """input (batch, 2, 3, 3) -> Conv 4x2x3x3 (pad 1) -> Flatten -> Gemm 36x5 (transB)."""
    rng = np.random.default_rng(0)
    nodes = [
        helper.make_node("Cast", ["input"], ["x"], to=TensorProto.FLOAT),
        helper.make_node("Conv", ["x", "w"], ["c"], pads=[1, 1, 1, 1]),
        helper.make_node("Flatten", ["c"], ["f"]),
        helper.make_node("Gemm", ["f", "g", "b"], ["logits"], transB=1),
    ]
    inits = [
        numpy_helper.from_array(rng.standard_normal((4, 2, 3, 3)).astype(np.float32), "w"),
        numpy_helper.from_array(rng.standard_normal((5, 36)).astype(np.float32), "g"),
        numpy_helper.from_array(np.zeros(5, np.float32), "b"),
    ]
    graph = helper.make_graph(
        nodes,
        "m",
        [helper.make_tensor_value_info("input", input_type, [batch, 2, 3, 3])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, [batch, 5])],
        inits,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)])
    for key, value in (meta or {}).items():
        model.metadata_props.add(key=key, value=value)
    return model


def test_input_spec_and_counts() -> None:
    spec = inspection.input_spec(_model())
    assert spec.name == "input" and spec.dtype == "float32" and not spec.embedded
    assert spec.shape == ("batch", 2, 3, 3) and spec.fixed_batch is None
    assert inspection.count_params(_model()) == 72 + 180 + 5
    # Conv: 4x3x3 outputs x (2x3x3) each; Gemm: 5 outputs x 36.
    assert inspection.count_macs(_model()) == 36 * 18 + 5 * 36


def test_uint8_or_embedded_inputs_are_raw_pixels() -> None:
    spec = inspection.input_spec(_model(TensorProto.UINT8, batch=1))
    assert spec.embedded and spec.raw_scale == 255 and spec.fixed_batch == 1
    floats = inspection.input_spec(_model(meta={"normalization": "embedded"}))
    assert floats.embedded and floats.raw_scale == 1

    x = np.array([[[[-1.0]], [[1.0]]]], np.float32)  # (1, 2, 1, 1): two channels
    mean, std = (0.5, 0.25), (0.5, 0.25)
    np.testing.assert_allclose(inspection.to_model_inputs(x, floats, mean, std).ravel(), [0.0, 0.5])
    as_uint8 = inspection.to_model_inputs(x, spec, mean, std)
    assert as_uint8.dtype == np.uint8 and as_uint8.ravel().tolist() == [0, 128]
    normal = inspection.input_spec(_model())
    np.testing.assert_array_equal(inspection.to_model_inputs(x, normal, mean, std), x)


def test_sample_shape_mismatch_is_one_clear_line() -> None:
    spec = inspection.input_spec(_model())
    inspection.check_sample_shape(spec, (2, 3, 3), "dataset 'x'", "m.onnx")
    with pytest.raises(UsageError) as caught:
        inspection.check_sample_shape(spec, (1, 28, 28), "dataset 'mnist'", "m.onnx")
    assert str(caught.value) == (
        "m.onnx takes inputs of shape [batch, 2, 3, 3] but dataset 'mnist' has samples of shape "
        "[1, 28, 28]; use the dataset the model was trained on"
    )


def test_broken_and_missing_files(tmp_path) -> None:
    broken = tmp_path / "broken.onnx"
    broken.write_bytes(b"this is not protobuf \x00\xff" * 10)
    with pytest.raises(UsageError, match=r"broken.onnx: not a readable ONNX model") as caught:
        inspection.load_onnx(broken)
    assert "\n" not in str(caught.value)
    with pytest.raises(UsageError, match="no such ONNX file"):
        inspection.load_onnx(tmp_path / "missing.onnx")


def test_describe_file(tmp_path) -> None:
    path = tmp_path / "m.onnx"
    onnx.save(_model(meta={"recipe_hash": "abc"}), str(path))
    described = inspection.describe_file(path)
    assert described["input"]["shape"] == ["batch", 2, 3, 3]
    assert described["metadata"] == {"recipe_hash": "abc"} and described["macs"] == 828
    assert described["file_bytes"] == path.stat().st_size
