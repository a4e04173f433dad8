"""Running torch.onnx: the dynamo exporter, its TorchScript fallback, one self-contained file.

Whichever exporter runs writes into a private folder; its graph must keep the batch axis
dynamic, loses the per-node debug information and is saved as one file with the weights inside.
Exporter chatter (progress lines, warnings about the exporters' own API) is held back.
"""

from __future__ import annotations

import contextlib
import logging
import tempfile
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import torch
from torch import nn

from compressor import logs
from compressor.errors import StageFailure, one_line
from compressor_exporters import DYNAMO_MIN_OPSET, TORCHSCRIPT_MAX_OPSET, OnnxOptions
from compressor_exporters.example_batches import TRACE_BATCH

if TYPE_CHECKING:
    import onnx  # imported where used: `compressor validate` imports this module, not onnx

INPUT_NAME = "input"
#: The output's name when the task says nothing else (classification's ``logits``).
OUTPUT_NAME = "logits"
#: Loggers of the exporters that report routine progress at INFO/WARNING level.
_NOISY_LOGGERS = ("torch.onnx", "torch.export", "torch._export", "torch._dynamo", "onnxscript")
#: Warning categories about the exporters' own API (e.g. the legacy exporter's deprecation),
#: not about the model being exported.
_IGNORED_CATEGORIES = (DeprecationWarning, PendingDeprecationWarning, FutureWarning)


def strip_debug_info(graph: onnx.GraphProto) -> None:
    """Drop per-node debug metadata (stack traces, FX nodes, source paths) from ``graph``.

    The dynamo exporter attaches them to every node; they can outweigh a small model's
    weights, skew file-size comparisons between exporters and leak local paths.
    """
    for node in graph.node:
        del node.metadata_props[:]
        node.doc_string = ""
        for attribute in node.attribute:
            if attribute.HasField("g"):
                strip_debug_info(attribute.g)
            for subgraph in attribute.graphs:
                strip_debug_info(subgraph)
    for values in (graph.input, graph.output, graph.value_info):
        for value in values:
            del value.metadata_props[:]


#: The dynamo exporter's node metadata holding the module path a node came from.
NAME_SCOPES = "pkg.torch.onnx.name_scopes"


def scope_node_names(graph: onnx.GraphProto) -> None:
    """Prefix each dynamo-exported node's name with its module path, as the TorchScript
    exporter names nodes (``/frontend/node_Conv_3``), before the debug metadata that says it
    is dropped: the ``quantize`` stage keeps a module's nodes float by that prefix."""
    import ast

    for node in graph.node:
        scopes = next((p.value for p in node.metadata_props if p.key == NAME_SCOPES), None)
        if not scopes or node.name.startswith("/"):
            continue
        try:
            path = [str(s) for s in ast.literal_eval(scopes)[:-1] if s]
        except (ValueError, SyntaxError):
            continue
        if path:
            node.name = "/" + "/".join(path) + "/" + node.name


def batch_is_dynamic(proto: onnx.ModelProto) -> bool:
    """Whether the first axis of the first input and output is symbolic, not a fixed size."""
    for value in (proto.graph.input[0], proto.graph.output[0]):
        dims = value.type.tensor_type.shape.dim
        if not dims or dims[0].HasField("dim_value"):
            return False
    return True


@contextlib.contextmanager
def quiet_export(caught: list[str]) -> Iterator[None]:
    """Silence the exporters' chatter; collect warning messages into ``caught``.

    Exceptions pass through untouched, and ERROR-level log records are still shown: only
    progress lines and warnings are held back. Standard streams are not redirected, because
    the progress bar of the run draws on them from another thread.
    """
    # Levels for the call only (compressor.logs.quieter): each logger gets its own level back
    # unless something set another meanwhile, and one set stricter than ERROR stays so.
    with (
        logs.quieter(_NOISY_LOGGERS, logging.ERROR),
        warnings.catch_warnings(record=True) as records,
    ):
        warnings.simplefilter("always")
        yield
    for record in records:
        message = str(record.message).strip().splitlines()[0] if str(record.message).strip() else ""
        if issubclass(record.category, _IGNORED_CATEGORIES):
            continue
        if message and message not in caught:
            caught.append(message)


def export_onnx(
    model: nn.Module,
    trace_inputs: torch.Tensor,
    target: Path,
    options: OnnxOptions,
    caught: list[str],
    output_names: tuple[str, ...] = (OUTPUT_NAME,),
) -> tuple[str, str | None]:
    """Export ``model`` to ``target`` with the exporter ``options`` choose, falling back if allowed.

    Args:
        model: The model, on the CPU in eval mode.
        trace_inputs: The batch traced (:data:`~compressor_exporters.example_batches.TRACE_BATCH`
            samples).
        target: The file written: one self-contained ONNX model.
        options: ``dynamo`` (``on``, ``off`` or ``auto``) and ``opset`` decide the exporter.
        caught: Collects the exporters' warning messages.
        output_names: The graph's outputs, in the order the model returns them (the task's).

    Returns:
        ``(method, fallback reason)``: ``dynamo`` or ``torchscript``, and why auto mode did not
        keep the dynamo exporter's file (``None`` when it did, or did not try it).

    Raises:
        StageFailure: Every exporter tried failed; the message gives each one's error.
    """
    # In auto mode, skip an exporter that cannot reach the opset rather than watch it fail.
    use_dynamo = options.dynamo == "on" or (
        options.dynamo == "auto" and options.opset >= DYNAMO_MIN_OPSET
    )
    can_fall_back = options.dynamo == "auto" and options.opset <= TORCHSCRIPT_MAX_OPSET
    if use_dynamo:
        try:
            _export_once(True, model, trace_inputs, target, options.opset, caught, output_names)
            return "dynamo", None
        except Exception as error:  # any exporter failure: fall back or report
            if not can_fall_back:
                raise StageFailure(f"ONNX export (dynamo) failed: {one_line(error)}") from error
            reason = one_line(error)
    else:
        reason = None
    try:
        _export_once(False, model, trace_inputs, target, options.opset, caught, output_names)
    except Exception as error:
        before = f"dynamo exporter: {reason}; " if reason else ""
        raise StageFailure(
            f"ONNX export failed: {before}TorchScript exporter: {one_line(error)}"
        ) from error
    return "torchscript", reason


def _export_once(
    dynamo: bool,
    model: nn.Module,
    trace_inputs: torch.Tensor,
    target: Path,
    opset: int,
    caught: list[str],
    output_names: tuple[str, ...],
) -> None:
    """Run one torch.onnx exporter and save its model as one file at ``target``.

    The exporter writes into a private folder first: it may put weights in external data
    files next to its output, and those must neither reach the run folder nor survive.
    """
    with tempfile.TemporaryDirectory(prefix="compressor-onnx-") as scratch:
        raw = Path(scratch) / "model.onnx"
        with quiet_export(caught):
            _run_torch_onnx(dynamo, model, trace_inputs, raw, opset, output_names)
        _save_self_contained(raw, target)


def _run_torch_onnx(
    dynamo: bool,
    model: nn.Module,
    trace_inputs: torch.Tensor,
    raw: Path,
    opset: int,
    output_names: tuple[str, ...],
) -> None:
    """Call ``torch.onnx.export`` with the dynamo or the TorchScript exporter, batch axis dynamic."""
    if dynamo:
        batch = torch.export.Dim("batch", min=1)
        program = torch.onnx.export(
            model,
            (trace_inputs,),
            dynamo=True,
            input_names=[INPUT_NAME],
            output_names=list(output_names),
            opset_version=opset,
            dynamic_shapes=({0: batch},),
            verbose=False,
        )
        if program is None:  # dynamo=True returns the program it exported
            raise StageFailure("the dynamo ONNX exporter returned no program")
        program.save(str(raw), external_data=False)
    else:
        torch.onnx.export(
            model,
            (trace_inputs,),
            str(raw),
            dynamo=False,
            input_names=[INPUT_NAME],
            output_names=list(output_names),
            opset_version=opset,
            dynamic_axes={name: {0: "batch"} for name in (INPUT_NAME, *output_names)},
        )


def _save_self_contained(raw: Path, target: Path) -> None:
    """Save the exporter's file ``raw`` at ``target`` as one file without debug information.

    ``onnx.load`` pulls any external data files back in and ``onnx.save`` writes one
    self-contained file.
    """
    import onnx

    proto = onnx.load(str(raw))
    # torch.export may specialize the batch axis (e.g. a branch on x.shape[0]) without
    # raising; such a file would fail at any other batch size.
    if not batch_is_dynamic(proto):
        raise RuntimeError(
            f"the exported graph has a fixed batch size ({TRACE_BATCH}): the model's "
            "forward depends on the batch size"
        )
    scope_node_names(proto.graph)
    strip_debug_info(proto.graph)
    try:
        onnx.save_model(proto, str(target), save_as_external_data=False)
    except ValueError as error:  # protobuf's 2 GB limit
        raise StageFailure(
            f"ONNX model is too large for a single file: {one_line(error)}"
        ) from error
