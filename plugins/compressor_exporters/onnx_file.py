"""The exported ONNX file made final, before the parity check runs on it.

In order: the opset the exporter wrote is checked, the embedded normalization is folded into
the first layer, onnxslim simplifies the graph, the ``metadata_props`` are set, the file is
rewritten in place as one self-contained file, and onnx.checker with strict shape inference
vets it. Folding, slimming and the checker are optional
(:class:`~compressor_exporters.OnnxOptions`).
"""

from __future__ import annotations

import contextlib
import io
from pathlib import Path
from typing import TYPE_CHECKING, Any

from compressor.errors import StageFailure, one_line
from compressor_exporters import OnnxOptions
from compressor_exporters.metadata import set_metadata
from compressor_exporters.torch_onnx import batch_is_dynamic

if TYPE_CHECKING:
    import onnx

# onnx is imported where it is used: `compressor validate` imports every factory module of a
# recipe to check that it loads, and needs none of onnx to do so.


def finish_file(
    path: Path, options: OnnxOptions, *, method: str, metadata: dict[str, str]
) -> tuple[int | None, dict[str, Any]]:
    """Check, fold, slim, label and vet the exported file at ``path``, rewriting it in place.

    Args:
        path: The file the exporter wrote.
        options: ``opset``, ``embed_preprocessing`` with ``fold_preprocessing``, ``slim`` and
            ``check`` say what runs.
        method: ``dynamo`` or ``torchscript``, for the message of a wrong opset.
        metadata: The ``metadata_props`` entries (see
            :func:`compressor_exporters.metadata.build_metadata`).

    Returns:
        ``(opset, facts)``: the opset of the file, and ``folded_preprocessing`` and ``slim``
        (node counts before and after) for the steps that ran.

    Raises:
        StageFailure: The file has another opset than requested, onnxslim failed or lost the
            dynamic batch axis, or the checker rejected the file.
    """
    import onnx

    from compressor.onnx.rewrite import fold_input_normalization

    proto = onnx.load(str(path))
    opset = next((o.version for o in proto.opset_import if o.domain in ("", "ai.onnx")), None)
    if opset != options.opset:
        raise StageFailure(
            f"ONNX export ({method}) wrote opset {opset}, not the requested {options.opset}"
        )
    facts: dict[str, Any] = {}
    if options.embed_preprocessing and options.fold_preprocessing:
        facts["folded_preprocessing"] = fold_input_normalization(proto)
    if options.slim:
        proto, facts["slim"] = slim_graph(proto)
    set_metadata(proto, metadata)
    onnx.save_model(proto, str(path), save_as_external_data=False)
    if options.check:
        check_file(path, proto)
    return opset, facts


def slim_graph(proto: onnx.ModelProto) -> tuple[onnx.ModelProto, dict[str, int]]:
    """Simplify the graph with onnxslim; the caller re-checks parity on the result."""
    import onnxslim

    before = len(proto.graph.node)
    try:
        with contextlib.redirect_stdout(io.StringIO()):  # onnxslim prints a summary table
            slimmed = onnxslim.slim(proto)
    except Exception as error:
        raise StageFailure(f"onnxslim failed: {one_line(error)}") from error
    if slimmed is None or not batch_is_dynamic(slimmed):
        raise StageFailure("onnxslim returned a graph without a dynamic batch axis")
    return slimmed, {"nodes_before": before, "nodes_after": len(slimmed.graph.node)}


def check_file(path: Path, proto: onnx.ModelProto) -> None:
    """Run onnx.checker and strict shape inference; raise StageFailure on a bad file."""
    import onnx

    try:
        onnx.checker.check_model(str(path))
        onnx.shape_inference.infer_shapes(proto, check_type=True, strict_mode=True)
    except Exception as error:
        raise StageFailure(f"exported ONNX model failed the checker: {one_line(error)}") from error
