"""First-layer rewrites: normalization folded into the Linear, raw uint8 into an INT8 Linear."""

from __future__ import annotations

import copy
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch
from compressor_exporters import OnnxOptions
from compressor_exporters.onnx_exporter import OnnxExporter
from compressor_exporters.preprocessing import raw_pixels
from torch import nn

from compressor.export_context import ExportContext
from compressor.onnx.rewrite import fold_input_normalization, integer_input_first_layer

pytestmark = pytest.mark.filterwarnings(
    "ignore:You are using the legacy TorchScript:DeprecationWarning"
)


def _export(
    tmp_path: Path, model: nn.Module, shape: tuple[int, ...], mean, std, **options
) -> onnx.ModelProto:
    torch.manual_seed(0)
    x = torch.randn(16, *shape)
    path = tmp_path / "m.onnx"
    opts = OnnxOptions(dynamo="off", fold_preprocessing=False, **options)
    OnnxExporter(opts).export(model.eval(), x, path, context=ExportContext(mean=mean, std=std))
    return onnx.load(str(path))


def _run(proto: onnx.ModelProto, x: np.ndarray) -> np.ndarray:
    session = ort.InferenceSession(proto.SerializeToString(), providers=["CPUExecutionProvider"])
    return session.run(None, {session.get_inputs()[0].name: x})[0]


def _ops(proto: onnx.ModelProto) -> list[str]:
    return [n.op_type for n in proto.graph.node]


def _mlp(features: int) -> nn.Module:
    torch.manual_seed(1)
    return nn.Sequential(nn.Flatten(), nn.Linear(features, 32), nn.ReLU(), nn.Linear(32, 5))


@pytest.mark.parametrize(
    ("shape", "mean", "std", "raw_input"),
    [
        ((1, 8, 8), (0.3,), (0.4,), "uint8"),
        ((1, 8, 8), (0.3,), (0.4,), "float"),
        ((3, 4, 4), (0.5, 0.4, 0.3), (0.2, 0.25, 0.3), "uint8"),  # per channel, C-major flatten
    ],
)
def test_fold_gives_the_same_logits_with_two_nodes_fewer(
    tmp_path, shape, mean, std, raw_input
) -> None:
    proto = _export(
        tmp_path,
        _mlp(int(np.prod(shape))),
        shape,
        mean,
        std,
        embed_preprocessing=True,
        raw_input=raw_input,
    )
    folded = copy.deepcopy(proto)
    assert fold_input_normalization(folded)
    onnx.checker.check_model(folded)
    assert "Mul" in _ops(proto) and "Mul" not in _ops(folded) and "Add" not in _ops(folded)
    assert len(folded.graph.node) == len(proto.graph.node) - 2
    pixels = torch.rand(9, *shape, generator=torch.Generator().manual_seed(2))
    x = raw_pixels(
        (pixels - torch.tensor(mean).view(-1, 1, 1)) / torch.tensor(std).view(-1, 1, 1),
        mean,
        std,
        raw_input,
    ).numpy()
    np.testing.assert_allclose(_run(folded, x), _run(proto, x), atol=2e-5, rtol=0)
    assert not fold_input_normalization(folded)  # nothing left to fold


def test_fold_leaves_a_convolution_alone(tmp_path) -> None:
    # Zero padding happens after normalization: folding the shift into a Conv's bias would be
    # wrong at the borders, so only a Linear on the flattened input is folded.
    cnn = nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.Flatten(), nn.Linear(4 * 64, 5))
    proto = _export(tmp_path, cnn, (1, 8, 8), (0.3,), (0.4,), embed_preprocessing=True)
    before = proto.SerializeToString()
    assert not fold_input_normalization(proto)
    assert proto.SerializeToString() == before


def test_fold_needs_the_normalization(tmp_path) -> None:
    proto = _export(tmp_path, _mlp(64), (1, 8, 8), (0.3,), (0.4,))
    assert not fold_input_normalization(proto) and "Gemm" in _ops(proto)


def test_integer_input_feeds_raw_pixels_to_int8_weights(tmp_path) -> None:
    proto = _export(
        tmp_path, _mlp(64), (1, 8, 8), (0.3,), (0.4,), embed_preprocessing=True, raw_input="uint8"
    )
    assert not integer_input_first_layer(copy.deepcopy(proto))  # Mul/Add still in the way
    assert fold_input_normalization(proto)
    integer = copy.deepcopy(proto)
    assert integer_input_first_layer(integer)
    onnx.checker.check_model(integer)
    assert _ops(integer)[0] in ("Flatten", "Reshape") and _ops(integer)[1] == "MatMulIntegerToFloat"
    assert "Cast" not in _ops(integer)
    x = np.random.default_rng(0).integers(0, 256, (50, 1, 8, 8)).astype(np.uint8)
    exact, approx = _run(proto, x), _run(integer, x)
    # Only the weights are rounded (to 1/126 of each unit's largest weight); the input is exact.
    error = np.abs(approx - exact).max()
    assert 0 < error < 0.02 * np.abs(exact).max()
    assert (approx.argmax(1) == exact.argmax(1)).mean() >= 0.95


def test_integer_input_is_exact_where_16_bit_pair_sums_would_saturate(tmp_path) -> None:
    # White pixels times each unit's largest weight: with weights up to 127, two neighbouring
    # products sum to 64,770, which onnxruntime's x86 u8s8 kernel without VNNI clips to 32,767.
    # Equal weights in a unit quantize exactly, so any error here is the kernel's, not rounding.
    model = nn.Sequential(nn.Flatten(), nn.Linear(64, 3))
    with torch.no_grad():
        model[1].weight.copy_(torch.tensor([0.5, -0.25, 0.125]).view(3, 1).expand(3, 64))
        model[1].bias.zero_()
    proto = _export(
        tmp_path, model, (1, 8, 8), (0.0,), (1.0,), embed_preprocessing=True, raw_input="uint8"
    )
    fold_input_normalization(proto)
    assert integer_input_first_layer(proto)
    x = np.full((2, 1, 8, 8), 255, dtype=np.uint8)
    np.testing.assert_allclose(_run(proto, x), [[32.0, -16.0, 8.0]] * 2, rtol=1e-5)


def test_integer_input_needs_uint8(tmp_path) -> None:
    proto = _export(
        tmp_path, _mlp(64), (1, 8, 8), (0.3,), (0.4,), embed_preprocessing=True, raw_input="float"
    )
    assert fold_input_normalization(proto)
    assert not integer_input_first_layer(proto) and "MatMulIntegerToFloat" not in _ops(proto)
