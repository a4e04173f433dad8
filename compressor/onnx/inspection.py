"""What an ONNX file says about itself: its input, its metadata, its parameters and MACs.

Used wherever a file is measured without the PyTorch model that made it (``compressor bench``,
the ``quantize`` and ``benchmark`` stages): the input's dtype and shape decide how dataset
samples are fed, the ``metadata_props`` written by the ``onnx`` exporter say whether the
normalization is inside the graph.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import onnx

from compressor.errors import UsageError

#: ONNX element types an input may have, as numpy dtype names.
_DTYPES: dict[int, str] = {
    onnx.TensorProto.FLOAT: "float32",
    onnx.TensorProto.UINT8: "uint8",
    onnx.TensorProto.INT8: "int8",
    onnx.TensorProto.FLOAT16: "float16",
    onnx.TensorProto.DOUBLE: "float64",
}
#: Ops whose multiply-accumulates are counted: (index of the left operand, of the weight).
_MATMUL_OPS = {"MatMul": (0, 1), "MatMulInteger": (0, 1), "QLinearMatMul": (0, 3)}
_CONV_OPS = {"Conv": 1, "ConvInteger": 1, "QLinearConv": 3}


@dataclass(frozen=True)
class InputSpec:
    """The first input of an ONNX model and how dataset samples must be turned into it.

    Attributes:
        name: The input's name (``input`` for compressor's exports).
        dtype: numpy dtype name (``float32``, ``uint8``).
        shape: Every dimension: an int when fixed, a string (``batch``) when symbolic.
        embedded: Whether the graph normalizes its inputs itself (it takes raw pixels).
        raw_scale: With ``embedded``, the pixel value meaning "full intensity": 255 for uint8
            inputs, 1 for float inputs.
    """

    name: str
    dtype: str
    shape: tuple[int | str, ...]
    embedded: bool = False
    raw_scale: float = 1.0

    @property
    def sample_shape(self) -> tuple[int | str, ...]:
        """The shape of one sample (every dimension but the batch)."""
        return self.shape[1:]

    @property
    def fixed_batch(self) -> int | None:
        """The batch size baked into the graph, or ``None`` when the batch axis is dynamic."""
        return self.shape[0] if self.shape and isinstance(self.shape[0], int) else None

    def describe(self) -> str:
        """E.g. ``uint8 [batch, 1, 28, 28], raw pixels 0..255 (normalized inside the graph)``."""
        dims = ", ".join(str(d) for d in self.shape)
        what = (
            f"raw pixels 0..{self.raw_scale:g} (normalized inside the graph)"
            if self.embedded
            else "normalized inputs"
        )
        return f"{self.dtype} [{dims}], {what}"


def load_onnx(path: str | Path) -> onnx.ModelProto:
    """Read an ONNX file, with a one-line error when it is missing or not ONNX.

    Raises:
        UsageError: The file does not exist, or does not parse as an ONNX model with an input.
    """
    file = Path(path)
    if not file.is_file():
        raise UsageError(f"{file}: no such ONNX file")
    try:
        proto = onnx.load(str(file))
    # protobuf raises DecodeError, onnx its own: all mean "not ONNX".
    except Exception as error:  # noqa: BLE001
        reason = " ".join(str(error).split())[:120] or type(error).__name__
        raise UsageError(f"{file}: not a readable ONNX model ({reason})") from None
    if not proto.graph.node or not proto.graph.input:
        raise UsageError(f"{file}: not a readable ONNX model (empty graph or no inputs)")
    return proto


def metadata(proto: onnx.ModelProto) -> dict[str, str]:
    """The model's ``metadata_props`` as a dict."""
    return {p.key: p.value for p in proto.metadata_props}


def _graph_inputs(proto: onnx.ModelProto) -> list[onnx.ValueInfoProto]:
    # Old exporters list initializers as inputs too; those are weights, not inputs.
    weights = {t.name for t in proto.graph.initializer}
    return [i for i in proto.graph.input if i.name not in weights]


def input_spec(proto: onnx.ModelProto) -> InputSpec:
    """Describe the first input of ``proto``.

    Raises:
        UsageError: The model has several inputs, or an input that is not a tensor of a
            numeric type compressor can feed.
    """
    inputs = _graph_inputs(proto)
    if len(inputs) != 1:
        names = ", ".join(i.name for i in inputs)
        raise UsageError(f"expected a model with one input, this one has {len(inputs)} ({names})")
    value = inputs[0]
    tensor = value.type.tensor_type
    if tensor.elem_type not in _DTYPES:
        raise UsageError(
            f"input {value.name!r} has element type "
            f"{onnx.TensorProto.DataType.Name(tensor.elem_type)}; expected one of "
            + ", ".join(_DTYPES.values())
        )
    shape = tuple(
        d.dim_value if d.HasField("dim_value") else (d.dim_param or "?") for d in tensor.shape.dim
    )
    meta = metadata(proto)
    dtype = _DTYPES[tensor.elem_type]
    # The exporter records embedded normalization; a uint8 input can only mean raw pixels.
    embedded = meta.get("normalization") == "embedded" or dtype == "uint8"
    return InputSpec(
        name=value.name,
        dtype=dtype,
        shape=shape,
        embedded=embedded,
        raw_scale=255.0 if dtype == "uint8" else 1.0,
    )


def check_sample_shape(spec: InputSpec, sample_shape: Sequence[int], what: str, model: str) -> None:
    """Fail clearly when samples of ``sample_shape`` cannot be fed to the model.

    Args:
        spec: The model's input.
        sample_shape: Shape of one sample of the data, e.g. ``(1, 8, 8)``.
        what: What the data is, for the message (``dataset 'digits'``).
        model: The model's name or path, for the message.

    Raises:
        UsageError: The ranks differ, or a fixed dimension differs.
    """
    expected = spec.sample_shape
    fits = len(expected) == len(sample_shape) and all(
        not isinstance(e, int) or e == s for e, s in zip(expected, sample_shape, strict=True)
    )
    if not fits:
        dims = ", ".join(str(d) for d in spec.shape)
        raise UsageError(
            f"{model} takes inputs of shape [{dims}] but {what} has samples of shape "
            f"{list(sample_shape)}; use the dataset the model was trained on"
        )


def to_model_inputs(
    x: np.ndarray, spec: InputSpec, mean: Sequence[float], std: Sequence[float]
) -> np.ndarray:
    """Turn normalized dataset samples into what the model takes.

    Args:
        x: Samples as the dataset gives them: float, normalized with ``mean`` and ``std``.
        spec: The model's input.
        mean: The dataset's per-channel mean (0..1 scale).
        std: The dataset's per-channel standard deviation (0..1 scale).

    Returns:
        ``x`` itself (as float32) for a model that takes normalized inputs; the raw pixels
        ``x * std + mean`` (0..1 floats, or 0..255 uint8 rounded to the nearest integer) for a
        model that normalizes inside its graph.
    """
    if not spec.embedded:
        return np.ascontiguousarray(x, dtype=np.float32)
    shape = (1, -1) + (1,) * (x.ndim - 2)
    m = np.asarray(mean, dtype=np.float64).reshape(shape)
    s = np.asarray(std, dtype=np.float64).reshape(shape)
    raw = x.astype(np.float64) * s + m
    if spec.dtype == "uint8":
        return np.ascontiguousarray(np.clip(np.rint(raw * spec.raw_scale), 0, 255).astype(np.uint8))
    return np.ascontiguousarray(raw, dtype=np.float32)


def count_params(proto: onnx.ModelProto) -> int:
    """Weights stored in the file: elements of every initializer with more than one element.

    Scalars are left out: they are shapes, axes, scales and zero points, not learned weights.
    """
    total = 0
    for tensor in proto.graph.initializer:
        size = int(np.prod(tensor.dims)) if tensor.dims else 1
        if size > 1:
            total += size
    return total


def _dims(value: onnx.ValueInfoProto) -> list[int] | None:
    dims = value.type.tensor_type.shape.dim
    if not value.type.tensor_type.HasField("shape"):
        return None
    out = [d.dim_value if d.HasField("dim_value") else None for d in dims]
    return None if any(d is None for d in out) else out  # type: ignore[return-value]


def count_macs(proto: onnx.ModelProto) -> int | None:
    """Multiply-accumulates of one sample (batch 1) in MatMul, Gemm and Conv nodes.

    Counts the dense ops that dominate a classifier's cost, in float, QDQ and integer
    (``MatMulInteger``, ``QLinearConv``) form, from shapes inferred at batch 1. Returns
    ``None`` when no such node has known shapes.
    """
    model = onnx.ModelProto()
    model.CopyFrom(proto)
    for value in _graph_inputs(model)[:1]:
        dims = value.type.tensor_type.shape.dim
        if dims:
            dims[0].Clear()
            dims[0].dim_value = 1
    try:
        model = onnx.shape_inference.infer_shapes(model)
    # A graph the inference cannot follow: no count rather than a crash.
    except Exception:  # noqa: BLE001
        return None
    shapes: dict[str, list[int] | None] = {
        v.name: _dims(v) for v in [*model.graph.input, *model.graph.value_info, *model.graph.output]
    }
    shapes.update({t.name: list(t.dims) for t in model.graph.initializer})

    def shape(name: str) -> list[int] | None:
        return shapes.get(name)

    total, counted = 0, False
    for node in model.graph.node:
        out = shape(node.output[0]) if node.output else None
        if out is None:
            continue
        if node.op_type in _MATMUL_OPS:
            left = shape(node.input[_MATMUL_OPS[node.op_type][0]])
            if left:
                total += int(np.prod(out)) * left[-1]
                counted = True
        elif node.op_type == "Gemm":
            left = shape(node.input[0])
            trans_a = any(a.name == "transA" and a.i for a in node.attribute)
            if left and len(left) == 2:
                total += int(np.prod(out)) * (left[0] if trans_a else left[1])
                counted = True
        elif node.op_type in _CONV_OPS:
            weight = shape(node.input[_CONV_OPS[node.op_type]])
            if weight:
                total += int(np.prod(out)) * int(np.prod(weight[1:]))
                counted = True
    return total if counted else None


def describe_file(path: str | Path) -> dict[str, Any]:
    """Input, metadata, parameters, MACs and size of an ONNX file, JSON-ready."""
    proto = load_onnx(path)
    spec = input_spec(proto)
    return {
        "input": {"name": spec.name, "dtype": spec.dtype, "shape": list(spec.shape)},
        "embedded_preprocessing": spec.embedded,
        "metadata": metadata(proto),
        "params": count_params(proto),
        "macs": count_macs(proto),
        "file_bytes": Path(path).stat().st_size,
    }
