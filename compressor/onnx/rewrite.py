"""Exact rewrites of an exported classifier's first layer, for batch-1 latency.

A model exported with embedded preprocessing starts ``input -> [Cast] -> Mul -> Add ->
Reshape -> Gemm``: two elementwise passes over every input before the first layer, each a node
onnxruntime runs (and pays a call for) on every request. When the first layer is a Linear on
the flattened input, the normalization is an affine map the layer can absorb:

    W @ (x * s + c) + b  ==  (W * s) @ x + (b + W @ c)

:func:`fold_input_normalization` does that on the FP32 graph. When the input is raw ``uint8``
pixels, the first layer can then take the integers as they are:
:func:`integer_input_first_layer` replaces ``Cast -> Gemm`` with onnxruntime's
``MatMulIntegerToFloat`` on per-output-channel INT8 weights. The input needs no quantization
(it is already an integer), so the only error is the weights' rounding.

The weights use 7 of their 8 bits (-63..63, :data:`WEIGHT_LIMIT`). onnxruntime runs a uint8 x
int8 product on x86 CPUs without VNNI (AVX2, most AVX-512 parts) with ``VPMADDUBSW``, which adds
two neighbouring products in 16-bit signed arithmetic and saturates: raw pixels up to 255 times
weights up to 127 sum to 64,770 and are clipped to 32,767, so the layer silently answers wrong on
those machines (onnxruntime's documentation names the issue and the cure: reduce the range).
With weights within 63 a pair is at most 32,130 and exact on every CPU; the file runs wherever it
is deployed, so the range cannot depend on the machine that wrote it.

Both are graph surgery on an ``onnx.ModelProto`` in place and return whether they matched;
neither changes a graph it does not fully understand.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

#: onnxruntime's contrib-op domain, where ``MatMulIntegerToFloat`` lives.
MS_DOMAIN = "com.microsoft"
#: The largest INT8 weight magnitude: two products of raw pixels (<= 255) with weights this
#: large fit a 16-bit sum (2 * 255 * 63 = 32,130 <= 32,767), see the module docstring.
WEIGHT_LIMIT = 63


def _constants(graph: onnx.GraphProto) -> dict[str, np.ndarray]:
    return {t.name: numpy_helper.to_array(t) for t in graph.initializer}


def _consumers(graph: onnx.GraphProto, name: str) -> list[onnx.NodeProto]:
    return [node for node in graph.node if name in node.input]


def _only_consumer(graph: onnx.GraphProto, name: str, op_type: str) -> onnx.NodeProto | None:
    found = _consumers(graph, name)
    if len(found) != 1 or found[0].op_type != op_type:
        return None
    if any(out.name == name for out in graph.output):
        return None
    return found[0]


def _attrs(node: onnx.NodeProto) -> dict[str, Any]:
    return {a.name: helper.get_attribute_value(a) for a in node.attribute}


def _sample_shape(graph: onnx.GraphProto) -> tuple[int, ...] | None:
    """The static shape of one sample of the graph's only input (all dims after the batch)."""
    if len(graph.input) != 1:
        return None
    dims = graph.input[0].type.tensor_type.shape.dim[1:]
    if not dims or any(not d.HasField("dim_value") for d in dims):
        return None
    return tuple(int(d.dim_value) for d in dims)


def _flatten_to_first_gemm(
    graph: onnx.GraphProto, name: str, constants: dict[str, np.ndarray], features: int
) -> tuple[onnx.NodeProto, onnx.NodeProto] | None:
    """``name -> Reshape/Flatten -> Gemm`` with a constant weight applied to the flat sample.

    Returns:
        ``(flatten, gemm)``, or ``None`` when the graph is not that shape.
    """
    consumers = _consumers(graph, name)
    if len(consumers) != 1:
        return None
    flatten = consumers[0]
    if flatten.op_type == "Flatten":
        if _attrs(flatten).get("axis", 1) != 1:
            return None
    elif flatten.op_type == "Reshape":
        target = constants.get(flatten.input[1])
        if target is None or target.shape != (2,):
            return None
        keeps_batch = int(target[0]) == 0 and not _attrs(flatten).get("allowzero", 0)
        flat = (int(target[0]) == -1 and int(target[1]) == features) or (
            keeps_batch and int(target[1]) in (-1, features)
        )
        if not flat:
            return None
    else:
        return None
    gemm = _only_consumer(graph, flatten.output[0], "Gemm")
    if gemm is None or gemm.input[0] != flatten.output[0]:
        return None
    attrs = _attrs(gemm)
    if attrs.get("alpha", 1.0) != 1.0 or attrs.get("beta", 1.0) != 1.0 or attrs.get("transA", 0):
        return None
    weight = constants.get(gemm.input[1])
    bias = constants.get(gemm.input[2]) if len(gemm.input) > 2 and gemm.input[2] else None
    if (
        weight is None
        or weight.ndim != 2
        or (len(gemm.input) > 2 and gemm.input[2] and bias is None)
    ):
        return None
    if (weight.shape[1] if attrs.get("transB", 0) else weight.shape[0]) != features:
        return None
    return flatten, gemm


def _weight_out_in(gemm: onnx.NodeProto, constants: dict[str, np.ndarray]) -> np.ndarray:
    """The Gemm's weight as ``(out, in)`` float64, whatever its ``transB``."""
    weight = constants[gemm.input[1]].astype(np.float64)
    return weight if _attrs(gemm).get("transB", 0) else weight.T


def _bias(gemm: onnx.NodeProto, constants: dict[str, np.ndarray], out: int) -> np.ndarray:
    if len(gemm.input) > 2 and gemm.input[2]:
        return np.broadcast_to(constants[gemm.input[2]].astype(np.float64), (out,)).copy()
    return np.zeros(out)


def _replace_initializer(graph: onnx.GraphProto, name: str, array: np.ndarray) -> str:
    """Add ``array`` under a fresh name derived from ``name``; returns the new name."""
    taken = {t.name for t in graph.initializer}
    fresh, index = f"{name}_folded", 1
    while fresh in taken:
        index += 1
        fresh = f"{name}_folded{index}"
    graph.initializer.append(numpy_helper.from_array(array, fresh))
    return fresh


def _drop_unused_initializers(graph: onnx.GraphProto) -> None:
    used = {name for node in graph.node for name in node.input}
    for tensor in [t for t in graph.initializer if t.name not in used]:
        graph.initializer.remove(tensor)


def _drop_value_info(graph: onnx.GraphProto, *names: str) -> None:
    """Forget recorded types of tensors that are gone or changed type."""
    for info in [v for v in graph.value_info if v.name in names]:
        graph.value_info.remove(info)


def fold_input_normalization(proto: onnx.ModelProto) -> bool:
    """Fold ``input -> [Cast] -> Mul(s) -> Add(c) -> Reshape -> Gemm`` into the Gemm.

    ``s`` and ``c`` must be constants that broadcast over one sample (per channel or scalar);
    the Gemm's weight and bias are rewritten in float64 and stored as float32.

    Returns:
        Whether the graph had that shape (and was rewritten in place).
    """
    graph = proto.graph
    sample = _sample_shape(graph)
    if sample is None:
        return False
    constants = _constants(graph)
    head = graph.input[0].name
    cast = _only_consumer(graph, head, "Cast")
    if cast is not None:
        head = cast.output[0]
    mul = _only_consumer(graph, head, "Mul")
    if mul is None:
        return False
    scale = constants.get(mul.input[1] if mul.input[0] == head else mul.input[0])
    add = _only_consumer(graph, mul.output[0], "Add")
    if scale is None or add is None:
        return False
    shift = constants.get(add.input[1] if add.input[0] == mul.output[0] else add.input[0])
    features = int(np.prod(sample))
    found = _flatten_to_first_gemm(graph, add.output[0], constants, features)
    if shift is None or found is None:
        return False
    try:
        s = np.broadcast_to(scale.astype(np.float64), sample).reshape(-1)
        c = np.broadcast_to(shift.astype(np.float64), sample).reshape(-1)
    except ValueError:  # a constant that also varies along the batch axis
        return False
    flatten, gemm = found
    weight = _weight_out_in(gemm, constants)
    folded_w = (weight * s[None, :]).astype(np.float32)
    folded_b = (_bias(gemm, constants, weight.shape[0]) + weight @ c).astype(np.float32)
    flatten.input[0] = head
    weight_name = gemm.input[1]
    gemm.input[1] = _replace_initializer(graph, weight_name, folded_w)
    del gemm.attribute[:]
    gemm.attribute.extend([helper.make_attribute("transB", 1)])
    bias_name = _replace_initializer(graph, f"{weight_name}_bias", folded_b)
    if len(gemm.input) > 2:
        gemm.input[2] = bias_name
    else:
        gemm.input.append(bias_name)
    graph.node.remove(mul)
    graph.node.remove(add)
    _drop_unused_initializers(graph)
    _drop_value_info(graph, mul.output[0], add.output[0])
    return True


def integer_input_first_layer(proto: onnx.ModelProto) -> bool:
    """Feed raw ``uint8`` input straight into an INT8 first layer.

    Matches ``uint8 input -> Cast(float) -> Reshape -> Gemm`` (what
    :func:`fold_input_normalization` leaves) and writes ``Reshape -> MatMulIntegerToFloat``:
    weights quantized symmetrically per output unit (scale ``max|w| / 63``, see
    :data:`WEIGHT_LIMIT`), input unquantized.

    Returns:
        Whether the graph had that shape (and was rewritten in place).
    """
    graph = proto.graph
    sample = _sample_shape(graph)
    if sample is None or graph.input[0].type.tensor_type.elem_type != TensorProto.UINT8:
        return False
    cast = _only_consumer(graph, graph.input[0].name, "Cast")
    if cast is None or _attrs(cast).get("to") != TensorProto.FLOAT:
        return False
    constants = _constants(graph)
    found = _flatten_to_first_gemm(graph, cast.output[0], constants, int(np.prod(sample)))
    if found is None:
        return False
    flatten, gemm = found
    weight = _weight_out_in(gemm, constants)  # (out, in)
    out = weight.shape[0]
    scales = np.abs(weight).max(axis=1) / WEIGHT_LIMIT
    scales[scales == 0] = 1.0  # an all-zero unit: any scale gives zeros
    quantized = np.clip(np.round(weight / scales[:, None]), -WEIGHT_LIMIT, WEIGHT_LIMIT)
    quantized = quantized.astype(np.int8)
    base = gemm.name or gemm.output[0]
    names = {
        "b": _replace_initializer(graph, f"{base}_int8_weight", np.ascontiguousarray(quantized.T)),
        "a_scale": _replace_initializer(graph, f"{base}_input_scale", np.array(1.0, np.float32)),
        "b_scale": _replace_initializer(graph, f"{base}_weight_scale", scales.astype(np.float32)),
        "a_zp": _replace_initializer(graph, f"{base}_input_zero_point", np.array(0, np.uint8)),
        "b_zp": _replace_initializer(graph, f"{base}_weight_zero_point", np.zeros(out, np.int8)),
        "bias": _replace_initializer(
            graph, f"{base}_bias", _bias(gemm, constants, out).astype(np.float32)
        ),
    }
    flatten.input[0] = graph.input[0].name
    # The flattened tensor is uint8 now: a recorded float type for it would fail the load.
    _drop_value_info(graph, flatten.output[0], cast.output[0])
    integer = helper.make_node(
        "MatMulIntegerToFloat",
        [
            flatten.output[0],
            names["b"],
            names["a_scale"],
            names["b_scale"],
            names["a_zp"],
            names["b_zp"],
            names["bias"],
        ],
        list(gemm.output),
        name=f"{base}_integer_input",
        domain=MS_DOMAIN,
    )
    position = list(graph.node).index(gemm)
    graph.node.remove(gemm)
    graph.node.insert(position, integer)
    graph.node.remove(cast)
    _drop_unused_initializers(graph)
    if not any(o.domain == MS_DOMAIN for o in proto.opset_import):
        proto.opset_import.append(helper.make_opsetid(MS_DOMAIN, 1))
    return True
