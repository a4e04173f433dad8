"""A keyword-spotting model in ONNX and in static INT8 with its front-end left in float.

The INT8 quantizer must leave the log-mel front-end in float: the STFT's products of the
waveform with cosine kernels and the log have ranges no 8-bit scale covers. A model's
front-end is its ``frontend`` attribute, so the TorchScript ONNX exporter names its nodes
``/frontend/<Op>``, ``/frontend/<Op>_1``, ... (``/frontend/Conv``, ``/frontend/MatMul``,
``/frontend/Log``, ...); :func:`frontend_nodes` lists them, for ``nodes_to_exclude``.
``quant_pre_process`` keeps those names (its optimizations fold constants, and nothing in the
front-end is fused).

:func:`export_fp32` and :func:`quantize_int8` are the direct onnxruntime calls the tests and
``benchmarks/speech_models.py`` use; the ``quantize`` stage makes the same choice.
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import torch
from torch import nn

if TYPE_CHECKING:
    import onnx

#: The scope prefix of the front-end's nodes in a TorchScript export.
FRONTEND_SCOPE = "/frontend/"
#: The opset of the TorchScript export (its highest is 20).
OPSET = 17


def frontend_nodes(proto: onnx.ModelProto) -> list[str]:
    """The names of ``proto``'s front-end nodes (those of the :data:`FRONTEND_SCOPE`)."""
    return [node.name for node in proto.graph.node if node.name.startswith(FRONTEND_SCOPE)]


def export_fp32(model: nn.Module, example: torch.Tensor, path: Path) -> float:
    """Export ``model`` (eval mode) with the TorchScript exporter, batch axis dynamic.

    Returns:
        The largest absolute logit difference between onnxruntime and PyTorch on ``example``.
    """
    from compressor_exporters import OnnxOptions
    from compressor_exporters.torch_onnx import export_onnx

    export_onnx(model, example, path, OnnxOptions(dynamo="off", opset=OPSET), [])
    import onnxruntime as ort

    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    got = session.run(None, {session.get_inputs()[0].name: example.numpy()})[0]
    with torch.no_grad():
        want = model(example).numpy()
    return float(np.abs(got - want).max())


class _Batches:
    """onnxruntime's ``CalibrationDataReader``: ``calibration`` in batches of 16."""

    def __init__(self, name: str, calibration: np.ndarray) -> None:
        self._batches: Iterator[np.ndarray] = iter(
            np.array_split(calibration, max(1, len(calibration) // 16))
        )
        self.name = name

    def get_next(self) -> dict[str, np.ndarray] | None:
        batch = next(self._batches, None)
        return None if batch is None else {self.name: batch.astype(np.float32)}


def quantize_int8(source: Path, target: Path, calibration: np.ndarray) -> list[str]:
    """Static INT8 QDQ (per channel, after ``quant_pre_process``) of ``source`` into
    ``target``, every front-end node left in float.

    Args:
        source: The FP32 file (:func:`export_fp32`).
        target: The INT8 file written.
        calibration: Waveforms ``(N, samples)`` the activation ranges are calibrated on.

    Returns:
        The nodes left in float.
    """
    import onnx
    from onnxruntime.quantization import QuantFormat, QuantType, quantize_static
    from onnxruntime.quantization.shape_inference import quant_pre_process

    with tempfile.TemporaryDirectory(prefix="compressor-kws-") as scratch:
        prepared = Path(scratch) / "pre.onnx"
        quant_pre_process(str(source), str(prepared))
        proto = onnx.load(str(prepared))
        kept = frontend_nodes(proto)
        quantize_static(
            prepared,
            target,
            _Batches(proto.graph.input[0].name, calibration),
            quant_format=QuantFormat.QDQ,
            per_channel=True,
            activation_type=QuantType.QUInt8,
            weight_type=QuantType.QInt8,
            nodes_to_exclude=kept,
        )
    return kept
