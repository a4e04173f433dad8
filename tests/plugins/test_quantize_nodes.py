"""Which nodes become INT8: small layers stay FP32 unless nothing else would, convolutions by
block (never alternating), clear refusals."""

from __future__ import annotations

import numpy as np
import onnx
import pytest
from compressor_stages.quantize_nodes import (
    choose_nodes,
    conv_blocks,
    quantized_op_counts,
    require_quantizable,
)
from onnx import helper, numpy_helper

from compressor.errors import StageFailure


def _graph(*weights: tuple[str, int, int]) -> onnx.ModelProto:
    """A chain of MatMuls, one per ``(node name, rows, columns)`` of its constant weight."""
    nodes, initializers = [], []
    current = "x"
    for index, (name, rows, columns) in enumerate(weights):
        weight = f"w{index}"
        initializers.append(numpy_helper.from_array(np.ones((rows, columns), np.float32), weight))
        nodes.append(helper.make_node("MatMul", [current, weight], [f"h{index}"], name=name))
        current = f"h{index}"
    nodes.append(helper.make_node("Relu", [current], ["y"], name="relu"))
    graph = helper.make_graph(nodes, "chain", [], [], initializers)
    return helper.make_model(graph)


def _convnet(*layers: tuple[str, str, int, int, int]) -> onnx.ModelProto:
    """Convolutions, weightless ops and Linear layers in a chain.

    Each layer is ``(op, name, channels in, channels out, groups)``: ``op`` ``Conv`` is a 3x3
    convolution with that many groups (``groups == channels``: depthwise), ``Relu`` or
    ``Add`` (the input added to itself) ignore the numbers, ``MatMul`` is a Linear layer on
    the pooled features.
    """
    nodes, initializers = [], []
    current = "x"
    for index, (op, name, c_in, c_out, groups) in enumerate(layers):
        out = f"h{index}"
        if op == "Conv":
            w = np.ones((c_out, c_in // groups, 3, 3), np.float32)
            initializers.append(numpy_helper.from_array(w, f"w{index}"))
            nodes.append(
                helper.make_node(
                    "Conv", [current, f"w{index}"], [out], name=name, group=groups, pads=[1] * 4
                )
            )
        elif op == "MatMul":
            initializers.append(
                numpy_helper.from_array(np.ones((c_in, c_out), np.float32), f"w{index}")
            )
            pooled = f"p{index}"
            nodes.append(helper.make_node("GlobalAveragePool", [current], [f"g{index}"]))
            nodes.append(helper.make_node("Flatten", [f"g{index}"], [pooled]))
            nodes.append(helper.make_node("MatMul", [pooled, f"w{index}"], [out], name=name))
        elif op == "Add":
            nodes.append(helper.make_node("Add", [current, current], [out], name=name))
        else:
            nodes.append(helper.make_node(op, [current], [out], name=name))
        current = out
    graph = helper.make_graph(nodes, "convnet", [], [], initializers)
    return helper.make_model(graph)


#: A depthwise-separable block: pointwise 32 -> 64 (2,048 x 9 weights), a 3x3 depthwise
#: convolution (64 x 9 = 576 weights, far below 4,096), pointwise 64 -> 32.
SEPARABLE = (
    ("Conv", "expand", 32, 64, 1),
    ("Relu", "relu0", 0, 0, 0),
    ("Conv", "depthwise", 64, 64, 64),
    ("Relu", "relu1", 0, 0, 0),
    ("Conv", "project", 64, 32, 1),
)


def test_a_depthwise_convolution_quantizes_with_its_block() -> None:
    proto = _convnet(*SEPARABLE, ("MatMul", "head", 32, 10, 0))
    choice = choose_nodes(proto, "static", 4096, integer_first_layer=False)
    # Alone, the depthwise convolution would stay FP32 between two INT8 neighbours.
    assert choice.kept_fp32 == ["head"]
    assert [n.name for n in choice.int8] == ["expand", "depthwise", "project"]


def test_a_block_of_small_convolutions_stays_fp32_whole() -> None:
    small = (
        ("Conv", "stem", 1, 4, 1),
        ("Relu", "relu", 0, 0, 0),
        ("Conv", "dw", 4, 4, 4),
    )
    proto = _convnet(*small, ("MatMul", "head", 4, 2048, 0))
    choice = choose_nodes(proto, "static", 4096, integer_first_layer=False)
    assert choice.kept_fp32 == ["stem", "dw"] and [n.name for n in choice.int8] == ["head"]


def test_small_convolutions_that_add_up_quantize_together() -> None:
    # 8 x 8 x 9 = 576 weights each, 4,608 together: each alone is below 4,096, the block is not.
    layers = [("Conv", f"c{i}", 8, 8, 1) for i in range(8)]
    chain = [x for layer in layers for x in (layer, ("Relu", f"r{layer[1]}", 0, 0, 0))]
    proto = _convnet(*chain, ("MatMul", "head", 8, 1024, 0))
    choice = choose_nodes(proto, "static", 4096, integer_first_layer=False)
    assert choice.kept_fp32 == [] and len(choice.int8) == 9
    # Above the block's 4,608 weights the convolutions stay FP32 together; the head does not.
    choice = choose_nodes(proto, "static", 5000, integer_first_layer=False)
    assert choice.kept_fp32 == [f"c{i}" for i in range(8)]
    assert [n.name for n in choice.int8] == ["head"]


def test_conv_blocks_join_branches_through_an_add_and_stop_at_a_matmul() -> None:
    def conv(name: str, source: str, out: str) -> onnx.NodeProto:
        return helper.make_node("Conv", [source, f"{name}_w"], [out], name=name)

    nodes = [
        conv("left", "x", "a"),  # two branches of the input, joined only by the Add
        conv("right", "x", "b"),
        helper.make_node("Add", ["a", "b"], ["s"]),
        helper.make_node("Relu", ["s"], ["r"]),
        conv("after_add", "r", "c"),
        helper.make_node("Flatten", ["c"], ["f"]),
        helper.make_node("MatMul", ["f", "fc_w"], ["m"], name="fc"),
        helper.make_node("Reshape", ["m", "shape"], ["m4"]),
        conv("after_fc", "m4", "y"),  # fed by the MatMul: a block of its own
    ]
    weights = ["left_w", "right_w", "after_add_w", "fc_w", "after_fc_w"]
    initializers = [numpy_helper.from_array(np.ones((2, 2), np.float32), w) for w in weights]
    proto = helper.make_model(helper.make_graph(nodes, "branches", [], [], initializers))
    assert conv_blocks(proto) == [[0, 1, 4], [8]]


def test_unnamed_convolutions_of_a_small_block_are_named_for_the_quantizer() -> None:
    proto = _convnet(
        ("Conv", "", 1, 4, 1),
        ("Relu", "relu", 0, 0, 0),
        ("Conv", "", 4, 4, 4),
        ("MatMul", "head", 4, 2048, 0),
    )
    choice = choose_nodes(proto, "dynamic", 4096, integer_first_layer=False)
    assert choice.kept_fp32 == ["Conv_0", "Conv_2"]


def test_small_layers_stay_fp32_next_to_a_large_one() -> None:
    proto = _graph(("big", 4, 64), ("head", 64, 1))
    choice = choose_nodes(proto, "dynamic", 100, integer_first_layer=False)
    assert choice.kept_fp32 == ["head"]
    assert [n.name for n in choice.int8] == ["big"]


def test_a_model_of_small_layers_only_is_quantized_whole() -> None:
    proto = _graph(("a", 4, 8), ("b", 8, 3))
    choice = choose_nodes(proto, "static", 100, integer_first_layer=False)
    assert choice.kept_fp32 == []
    assert [n.name for n in choice.int8] == ["a", "b"]


def test_with_an_integer_first_layer_small_layers_stay_fp32_even_if_none_is_left() -> None:
    proto = _graph(("a", 4, 8), ("b", 8, 3))
    choice = choose_nodes(proto, "dynamic", 100, integer_first_layer=True)
    assert choice.kept_fp32 == ["a", "b"]
    assert choice.int8 == []


def test_unnamed_small_nodes_are_named_for_the_quantizer() -> None:
    proto = _graph(("big", 4, 64), ("", 64, 1))
    choice = choose_nodes(proto, "dynamic", 100, integer_first_layer=False)
    assert choice.kept_fp32 == ["MatMul_1"]
    assert proto.graph.node[1].name == "MatMul_1"


def test_a_graph_without_a_quantizable_op_is_refused_with_what_it_has() -> None:
    graph = helper.make_graph([helper.make_node("Relu", ["x"], ["y"])], "relu", [], [])
    with pytest.raises(StageFailure, match=r"cannot quantize relu\.onnx: .*it has Relu; quantiz"):
        require_quantizable(helper.make_model(graph), "dynamic", "relu.onnx")
    require_quantizable(_graph(("a", 4, 8)), "dynamic", "chain.onnx")


def test_quantized_op_counts_counts_only_int8_markers() -> None:
    nodes = [
        helper.make_node("QuantizeLinear", ["x", "s", "z"], ["q0"]),
        helper.make_node("MatMulInteger", ["q0", "w"], ["m"]),
        helper.make_node("QuantizeLinear", ["m", "s", "z"], ["q1"]),
        helper.make_node("Relu", ["q1"], ["y"]),
    ]
    proto = helper.make_model(helper.make_graph(nodes, "int8", [], []))
    assert quantized_op_counts(proto) == {"QuantizeLinear": 2, "MatMulInteger": 1}
    assert quantized_op_counts(_graph(("a", 4, 8))) == {}
