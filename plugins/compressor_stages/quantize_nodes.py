"""Which nodes of an ONNX graph the ``quantize`` stage turns into INT8, and which stay FP32.

Owns the op types each mode can quantize (and the check that a model has one), the rewrite of
``Gemm`` as ``MatMul`` that lets dynamic quantization reach ``nn.Linear`` layers, the rule that
layers with few weights stay FP32 (``keep_fp32_below``), and the op types that mark a graph as
quantized, for the check after quantizing.

Convolutions are judged by block, not one by one: a run of convolutions joined through
weightless ops (activations, pooling, residual adds) is quantized or kept FP32 whole, by its
total weights (:func:`conv_blocks`). Judged alone, a MobileNet's 3x3 depthwise convolutions
(a few hundred weights each) stayed FP32 between INT8 neighbours, and a Quantize/Dequantize pair
on every edge between them made the INT8 file 6x slower than FP32.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from compressor.errors import StageFailure

if TYPE_CHECKING:
    import onnx  # for the types: nothing here needs onnx until a file is quantized

#: Op types each mode can quantize (onnxruntime's registries, as of 1.18..1.32). Checked
#: before anything is written, so a model without one fails with a clear message.
_DYNAMIC_OPS = {
    "Attention",
    "Conv",
    "EmbedLayerNormalization",
    "Gather",
    "LSTM",
    "MatMul",
    "Transpose",
}
#: Ops that carry the arithmetic; a static quantization touching only Relu or Reshape is no
#: INT8 model in any useful sense.
_STATIC_COMPUTE_OPS = {"Conv", "ConvTranspose", "Gemm", "MatMul", "Attention", "LSTM", "Gather"}
#: What each mode can turn into INT8; Gemm for dynamic through :func:`gemm_to_matmul`.
_QUANTIZABLE = {"dynamic": _DYNAMIC_OPS | {"Gemm"}, "static": _STATIC_COMPUTE_OPS}
#: Op types that mark a quantized graph, for the check after quantizing.
_QUANTIZED_OPS = {
    "QuantizeLinear",
    "DynamicQuantizeLinear",
    "MatMulInteger",
    "ConvInteger",
    "QLinearMatMul",
    "QLinearConv",
    "DynamicQuantizeMatMul",
    "QAttention",
    "DynamicQuantizeLSTM",
    "MatMulIntegerToFloat",
}
#: Ops whose second input is the weight :func:`small_weight_nodes` measures.
_WEIGHTED_OPS = {"Conv", "ConvTranspose", "Gemm", "MatMul"}
#: Weighted ops judged by block (:func:`conv_blocks`) rather than alone.
_CONV_OPS = {"Conv", "ConvTranspose"}


def quantizable_ops(proto: onnx.ModelProto, mode: str) -> list[str]:
    """The op types in ``proto`` that ``mode`` quantizes, sorted.

    Gemm counts for dynamic mode too: :func:`gemm_to_matmul` rewrites it first.
    """
    return sorted({node.op_type for node in proto.graph.node if node.op_type in _QUANTIZABLE[mode]})


def require_quantizable(proto: onnx.ModelProto, mode: str, file_name: str) -> None:
    """Fail unless ``proto`` has an op that ``mode`` turns into INT8.

    Raises:
        StageFailure: It has none; the message lists the ops it has and the ones that qualify.
    """
    if quantizable_ops(proto, mode):
        return
    present = ", ".join(sorted({n.op_type for n in proto.graph.node}))
    wanted = ", ".join(sorted(_QUANTIZABLE[mode]))
    raise StageFailure(
        f"cannot quantize {file_name}: it has no op that {mode} quantization turns into "
        f"INT8 (it has {present}; quantizable: {wanted})"
    )


def gemm_to_matmul(proto: onnx.ModelProto) -> int:
    """Rewrite ``Gemm`` nodes with a constant weight as ``MatMul`` (+ ``Add`` for the bias).

    torch exports ``nn.Linear`` as Gemm, which onnxruntime's dynamic quantization skips (its
    registry has MatMul but not Gemm): without this, a whole MLP would stay FP32. Only plain
    Gemms are rewritten (alpha = beta = 1, no transposed input); ``transB`` is folded into a
    transposed copy of the weight.

    Returns:
        How many nodes were rewritten (``proto`` is changed in place).
    """
    from onnx import helper, numpy_helper

    graph = proto.graph
    weights = {t.name: t for t in graph.initializer}
    nodes: list[onnx.NodeProto] = []
    rewritten = 0
    for node in graph.node:
        attrs = {a.name: helper.get_attribute_value(a) for a in node.attribute}
        plain = (
            node.op_type == "Gemm"
            and node.input[1] in weights
            and attrs.get("alpha", 1.0) == 1.0
            and attrs.get("beta", 1.0) == 1.0
            and not attrs.get("transA", 0)
        )
        if not plain:
            nodes.append(node)
            continue
        weight_name = node.input[1]
        if attrs.get("transB", 0):
            array = numpy_helper.to_array(weights[weight_name]).T.copy()
            weight_name = f"{weight_name}_matmul"
            graph.initializer.append(numpy_helper.from_array(array, weight_name))
        has_bias = len(node.input) > 2 and node.input[2]
        product = f"{node.output[0]}_matmul" if has_bias else node.output[0]
        nodes.append(
            helper.make_node(
                "MatMul", [node.input[0], weight_name], [product], name=f"{node.name}_matmul"
            )
        )
        if has_bias:
            nodes.append(
                helper.make_node(
                    "Add", [product, node.input[2]], [node.output[0]], name=f"{node.name}_bias"
                )
            )
        rewritten += 1
    del graph.node[:]
    graph.node.extend(nodes)
    used = {name for node in graph.node for name in node.input}
    unused = [t for t in graph.initializer if t.name not in used]
    for tensor in unused:  # the original transB weights, now copied
        graph.initializer.remove(tensor)
    return rewritten


def _weight_sizes(proto: onnx.ModelProto) -> dict[str, int]:
    """Initializer name -> element count."""
    return {t.name: int(np.prod(t.dims)) for t in proto.graph.initializer}


def _name_unnamed(proto: onnx.ModelProto, index: int) -> str:
    """The name of node ``index``, naming it ``{op}_{index}`` first when it has none."""
    node = proto.graph.node[index]
    if not node.name:
        node.name = f"{node.op_type}_{index}"
    return node.name


def small_weight_nodes(proto: onnx.ModelProto, below: int) -> list[str]:
    """Names of weighted nodes whose constant weight has fewer than ``below`` elements.

    Each node is judged alone here; :func:`choose_nodes` then judges convolutions by block.
    Unnamed nodes are named first (onnxruntime's quantizer excludes nodes by name).
    """
    sizes = _weight_sizes(proto)
    small = []
    for index, node in enumerate(proto.graph.node):
        if node.op_type not in _WEIGHTED_OPS or len(node.input) < 2:
            continue
        if node.input[1] in sizes and sizes[node.input[1]] < below:
            small.append(_name_unnamed(proto, index))
    return small


def conv_blocks(proto: onnx.ModelProto) -> list[list[int]]:
    """Runs of convolutions joined through weightless ops, as lists of node indices.

    Two convolutions share a block when a path leads from one to the other through nodes that
    are not weighted (activations, pooling, ``Add``, ``Mul``, reshapes): a MobileNet's
    pointwise, depthwise and squeeze-excitation convolutions, or a ResNet's whole trunk, form
    one block. A ``MatMul`` or ``Gemm`` ends a block, so a classifier head is judged alone.
    The graph's nodes are in topological order, as ONNX requires.

    Returns:
        Each block's node indices, ascending; blocks in the order of their first node.
    """
    parent: dict[int, int] = {}

    def root(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    # Tensor name -> the convolutions it comes from through weightless ops only.
    reached: dict[str, set[int]] = {}
    for index, node in enumerate(proto.graph.node):
        upstream = {root(i) for name in node.input for i in reached.get(name, ())}
        if node.op_type in _CONV_OPS:
            parent[index] = index
            for other in upstream:
                parent[root(other)] = index
            comes_from = {index}
        elif node.op_type in _WEIGHTED_OPS:
            comes_from = set()
        else:
            comes_from = upstream
        for name in node.output:
            reached[name] = comes_from
    blocks: dict[int, list[int]] = {}
    for index in sorted(parent):
        blocks.setdefault(root(index), []).append(index)
    return sorted(blocks.values())


def _fp32_by_block(proto: onnx.ModelProto, small: list[str], below: int) -> list[str]:
    """``small`` with each convolution block's members in it together or not at all.

    A block stays FP32 when its convolutions have fewer than ``below`` weights together.
    """
    sizes = _weight_sizes(proto)
    nodes = proto.graph.node
    kept = set(small)
    for block in conv_blocks(proto):
        total = sum(sizes.get(nodes[i].input[1], 0) for i in block if len(nodes[i].input) > 1)
        if total >= below:
            kept -= {nodes[i].name for i in block}
        else:
            kept |= {_name_unnamed(proto, i) for i in block}
    return [n.name for n in nodes if n.name in kept]


def float_tail(proto: onnx.ModelProto) -> list[str]:
    """Names of the nodes after the graph's last weighted layers: what stays float always.

    A node belongs to the tail when no weighted layer (``Conv``, ``Gemm``, ``MatMul`` with a
    constant weight) is it or lies downstream of it: a detector's decoding, top-k and NMS, a
    softmax after a classifier. Quantizing them gains nothing (they hold no weights) and
    costs accuracy: static QDQ around a detector's final ``Sigmoid``/``Mul``/``Concat`` nodes
    rounds its confidences to zero (ANCHORS, yolov5). A classifier ending in its ``Gemm`` has
    no tail. Unnamed tail nodes are named first (the quantizer excludes nodes by name).
    """
    nodes = proto.graph.node
    constants = {t.name for t in proto.graph.initializer}
    constants |= {out for node in nodes if node.op_type == "Constant" for out in node.output}
    consumers: dict[str, list[int]] = {}
    for index, node in enumerate(nodes):
        for name in node.input:
            consumers.setdefault(name, []).append(index)
    layers = {
        out
        for node in nodes
        if node.op_type in _WEIGHTED_OPS and len(node.input) > 1 and node.input[1] in constants
        for out in node.output
    }
    feeds_weights = [False] * len(nodes)
    # ONNX lists nodes in topological order: walking backwards sees consumers first.
    for index in range(len(nodes) - 1, -1, -1):
        node = nodes[index]
        weighted = any(out in layers for out in node.output) or (
            # A MatMul's bias (Gemm split by quant_pre_process) belongs to its layer.
            node.op_type == "Add"
            and any(name in layers for name in node.input)
            and any(name in constants for name in node.input)
        )
        downstream = (j for out in node.output for j in consumers.get(out, ()))
        feeds_weights[index] = weighted or any(feeds_weights[j] for j in downstream)
    return [_name_unnamed(proto, i) for i, feeds in enumerate(feeds_weights) if not feeds]


@dataclass(frozen=True)
class NodeChoice:
    """What quantization does with a graph's quantizable nodes.

    Attributes:
        kept_fp32: Names of the nodes left FP32 for their size.
        int8: The quantizable nodes the quantizer turns into INT8; empty when an integer-input
            first layer is the only INT8 layer.
        float_tail: Names of the nodes after the last weighted layers (:func:`float_tail`),
            left float whatever their size.
    """

    kept_fp32: list[str]
    int8: list[onnx.NodeProto]
    float_tail: list[str] = field(default_factory=list)

    @property
    def excluded(self) -> list[str]:
        """What the quantizer must leave alone (``nodes_to_exclude``)."""
        return self.kept_fp32 + [n for n in self.float_tail if n not in self.kept_fp32]


def choose_nodes(
    proto: onnx.ModelProto,
    mode: str,
    keep_fp32_below: int,
    *,
    integer_first_layer: bool,
    keep_float: tuple[str, ...] = (),
) -> NodeChoice:
    """Keep layers with fewer than ``keep_fp32_below`` weights FP32, unless that leaves no INT8.

    ``MatMul`` and ``Gemm`` nodes are judged alone, convolutions by block
    (:func:`conv_blocks`): a block is quantized or kept FP32 whole, by its total weights, so
    INT8 and FP32 convolutions never alternate. A model of small layers only is quantized
    whole, since INT8 is what was asked for; with an integer-input first layer (already INT8)
    the small layers stay FP32 even if none is left. The float tail (:func:`float_tail`)
    stays FP32 always, and so do the nodes of the ``keep_float`` scopes (an audio front-end's
    ``/frontend/``, which the file records). Unnamed nodes left FP32 are named in ``proto`` (the
    quantizer excludes nodes by name).
    """
    tail = float_tail(proto)
    tail += [
        n.name for n in proto.graph.node if n.name.startswith(keep_float) and n.name not in tail
    ]
    kept = _fp32_by_block(proto, small_weight_nodes(proto, keep_fp32_below), keep_fp32_below)
    quantizable = [
        n for n in proto.graph.node if n.op_type in _QUANTIZABLE[mode] and n.name not in tail
    ]
    rest = [n for n in quantizable if n.name not in kept]
    if not rest and not integer_first_layer:
        kept, rest = [], quantizable
    return NodeChoice(kept_fp32=kept, int8=rest, float_tail=tail)


def quantized_op_counts(proto: onnx.ModelProto) -> dict[str, int]:
    """Op type -> count for the ops in ``proto`` that mark a quantized graph (none: ``{}``)."""
    ops: dict[str, int] = {}
    for node in proto.graph.node:
        if node.op_type in _QUANTIZED_OPS:
            ops[node.op_type] = ops.get(node.op_type, 0) + 1
    return ops
