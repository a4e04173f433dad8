"""Which nodes become INT8: small layers stay FP32 unless nothing else would, clear refusals."""

from __future__ import annotations

import numpy as np
import onnx
import pytest
from compressor_stages.quantize_nodes import (
    choose_nodes,
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
