"""The ``onnx`` exporter: torch.onnx with a dynamic batch axis, checked in onnxruntime.

The file is written through :func:`compressor.atomic.atomic_path`: the export, the optional
slimming, the metadata, the checker and the parity check all run on the temporary file, so a
failed check (or a crash) leaves nothing at the destination.
"""

from __future__ import annotations

import contextlib
import copy
import io
import logging
import tempfile
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import onnxruntime as ort
import torch
from torch import nn

from compressor.atomic import atomic_path
from compressor.errors import StageFailure, one_line
from compressor.export_context import ExportContext
from compressor.onnx.rewrite import fold_input_normalization
from compressor_exporters import DYNAMO_MIN_OPSET, TORCHSCRIPT_MAX_OPSET, OnnxOptions
from compressor_exporters.metadata import build_metadata, set_metadata
from compressor_exporters.preprocessing import EmbeddedPreprocessing, normalized, raw_pixels

INPUT_NAME = "input"
OUTPUT_NAME = "logits"
#: Samples traced. Not 1: torch.export specializes size-1 dimensions, which would pin the batch.
TRACE_BATCH = 2
#: Loggers of the exporters that report routine progress at INFO/WARNING level.
_NOISY_LOGGERS = ("torch.onnx", "torch.export", "torch._export", "torch._dynamo", "onnxscript")
#: Warning categories about the exporters' own API (e.g. the legacy exporter's deprecation),
#: not about the model being exported.
_IGNORED_CATEGORIES = (DeprecationWarning, PendingDeprecationWarning, FutureWarning)


def _strip_debug_info(graph: onnx.GraphProto) -> None:
    """Drop per-node debug metadata (stack traces, FX nodes, source paths) from ``graph``.

    The dynamo exporter attaches them to every node; they can outweigh a small model's
    weights, skew file-size comparisons between exporters and leak local paths.
    """
    for node in graph.node:
        del node.metadata_props[:]
        node.doc_string = ""
        for attribute in node.attribute:
            if attribute.HasField("g"):
                _strip_debug_info(attribute.g)
            for subgraph in attribute.graphs:
                _strip_debug_info(subgraph)
    for values in (graph.input, graph.output, graph.value_info):
        for value in values:
            del value.metadata_props[:]


def _batch_is_dynamic(proto: onnx.ModelProto) -> bool:
    """Whether the first axis of the first input and output is symbolic, not a fixed size."""
    for value in (proto.graph.input[0], proto.graph.output[0]):
        dims = value.type.tensor_type.shape.dim
        if not dims or dims[0].HasField("dim_value"):
            return False
    return True


@contextlib.contextmanager
def _quiet_export(caught: list[str]) -> Iterator[None]:
    """Silence the exporters' chatter; collect warning messages into ``caught``.

    Exceptions pass through untouched, and ERROR-level log records are still shown: only
    progress lines and warnings are held back. Standard streams are not redirected, because
    the progress bar of the run draws on them from another thread.
    """
    saved = {}
    for name in _NOISY_LOGGERS:
        logger = logging.getLogger(name)
        saved[name] = logger.level
        logger.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings(record=True) as records:
            warnings.simplefilter("always")
            yield
    finally:
        for name, level in saved.items():
            logging.getLogger(name).setLevel(level)
    for record in records:
        message = str(record.message).strip().splitlines()[0] if str(record.message).strip() else ""
        if issubclass(record.category, _IGNORED_CATEGORIES):
            continue
        if message and message not in caught:
            caught.append(message)


class OnnxExporter:
    """Export a classifier to one self-contained ``.onnx`` file with a dynamic batch axis.

    Args:
        options: The validated :class:`~compressor_exporters.OnnxOptions`.
    """

    def __init__(self, options: OnnxOptions | None = None) -> None:
        self.options = options if options is not None else OnnxOptions()

    def export(
        self,
        model: nn.Module,
        example_inputs: torch.Tensor,
        path: Path,
        *,
        context: ExportContext | None = None,
    ) -> dict[str, Any]:
        """Write ``model`` to ``path`` as ONNX and check it against PyTorch.

        Args:
            model: The model to export; it is copied to the CPU in eval mode, never modified.
            example_inputs: Real, normalized inputs (e.g. 64 test samples). The first two are
                traced; all of them are used for the parity check, at a batch size other than
                the traced one.
            path: Destination file; written atomically, and only if every check passes.
            context: The data's normalization and class names and the run's recipe, written to
                the file's ``metadata_props``; ``embed_preprocessing`` needs its mean and std.

        Returns:
            Facts about the export: exporter, method (``dynamo`` or ``torchscript``), opset,
            parity figures (``max_abs_error``, ``top1_agreement``, ``parity_batch``),
            ``file_bytes``, ``input`` (dtype, what it takes) and ``metadata``;
            ``slim`` (node counts) when slimmed; ``fallback_reason`` when auto mode fell back
            to TorchScript, and ``warnings`` when the exporter warned.

        Raises:
            StageFailure: Both exporters failed, the checker rejected the file, onnxruntime
                could not run it, the parity figures are outside the tolerances, or
                ``embed_preprocessing`` was asked for without a mean and std.
        """
        opts = self.options
        cpu_model = copy.deepcopy(model).to("cpu").eval()
        inputs = example_inputs.detach().to("cpu")
        if len(inputs) == 0:
            raise StageFailure("ONNX export needs at least one example input")
        trace_inputs = inputs[:TRACE_BATCH]
        if len(trace_inputs) < TRACE_BATCH:
            trace_inputs = trace_inputs.repeat(TRACE_BATCH, *([1] * (inputs.dim() - 1)))[
                :TRACE_BATCH
            ]
        # The parity batch must differ from the traced one, or a batch size baked into the
        # graph would go unnoticed.
        parity_inputs = inputs if len(inputs) != TRACE_BATCH else torch.cat([inputs, inputs[:1]])

        export_model: nn.Module = cpu_model
        onnx_parity_inputs = parity_inputs
        if opts.embed_preprocessing:
            export_model, trace_inputs, onnx_parity_inputs, parity_inputs = self._embed(
                cpu_model, trace_inputs, parity_inputs, context
            )

        with torch.no_grad():
            expected = cpu_model(parity_inputs)
        if not isinstance(expected, torch.Tensor):
            raise StageFailure(
                f"ONNX export expects a model returning one logits tensor, got {type(expected).__name__}"
            )
        expected_np = expected.float().numpy()

        caught: list[str] = []
        facts: dict[str, Any] = {"exporter": "onnx"}
        with atomic_path(path) as tmp:
            method, fallback_reason = self._export(export_model, trace_inputs, tmp, caught)
            proto = onnx.load(str(tmp))
            opset = next(
                (o.version for o in proto.opset_import if o.domain in ("", "ai.onnx")), None
            )
            if opset != opts.opset:
                raise StageFailure(
                    f"ONNX export ({method}) wrote opset {opset}, not the requested {opts.opset}"
                )
            if opts.embed_preprocessing and opts.fold_preprocessing:
                facts["folded_preprocessing"] = fold_input_normalization(proto)
            if opts.slim:
                proto, facts["slim"] = self._slim(proto)
            entries = build_metadata(
                sample_shape=list(inputs.shape[1:]),
                input_name=INPUT_NAME,
                output_name=OUTPUT_NAME,
                input_dtype=str(onnx_parity_inputs.numpy().dtype),
                embedded=opts.embed_preprocessing,
                raw_input=opts.raw_input,
                context=context,
                exporter=f"onnx ({method})",
            )
            set_metadata(proto, entries)
            onnx.save_model(proto, str(tmp), save_as_external_data=False)
            if opts.check:
                self._check(tmp, proto)
            del proto
            max_abs_error, top1 = self._parity(tmp, onnx_parity_inputs.numpy(), expected_np)
            figures = (
                f"max |onnx - torch| = {max_abs_error:.3g} (atol {opts.atol:g}), top-1 agreement "
                f"{top1:.2%} (min {opts.min_top1_agreement:.2%}) on {len(parity_inputs)} samples"
            )
            # Written as `not <=` so that a NaN error fails too.
            if not (max_abs_error <= opts.atol) or not (top1 >= opts.min_top1_agreement):
                # The dynamo failure is often the cause (e.g. a batch-dependent forward).
                why = (
                    f"; the dynamo exporter was not used: {fallback_reason}"
                    if fallback_reason
                    else ""
                )
                slimmed = " after onnxslim" if opts.slim else ""
                raise StageFailure(
                    f"ONNX parity check failed for {Path(path).name} ({method}){slimmed}: "
                    f"{figures}{why}"
                )
            file_bytes = tmp.stat().st_size

        facts.update(
            {
                "method": method,
                "opset": opset,
                "max_abs_error": max_abs_error,
                "top1_agreement": top1,
                "parity_batch": len(parity_inputs),
                "trace_batch": TRACE_BATCH,
                "file_bytes": file_bytes,
                "input": {
                    "dtype": entries["input_dtype"],
                    "embedded_preprocessing": opts.embed_preprocessing,
                    "range": entries["input_range"],
                },
                "metadata": entries,
            }
        )
        if fallback_reason:
            facts["fallback_reason"] = fallback_reason
        if caught:
            facts["warnings"] = caught[:5]
        return facts

    def _embed(
        self,
        model: nn.Module,
        trace_inputs: torch.Tensor,
        parity_inputs: torch.Tensor,
        context: ExportContext | None,
    ) -> tuple[nn.Module, torch.Tensor, torch.Tensor, torch.Tensor]:
        """The model wrapped to take raw pixels, and the inputs for tracing and parity.

        Returns:
            ``(wrapped model, raw trace inputs, raw parity inputs for onnxruntime, normalized
            parity inputs for PyTorch)``: PyTorch sees the very pixels onnxruntime sees,
            normalized outside the graph, so the check covers the embedded normalization.
        """
        if context is None or not context.mean or not context.std:
            raise StageFailure(
                "embed_preprocessing needs the dataset's mean and std: export through an export "
                "stage, or pass context=ExportContext(mean=..., std=...)"
            )
        mean, std, raw = context.mean, context.std, self.options.raw_input
        rank = trace_inputs.dim() - 1
        wrapped = EmbeddedPreprocessing(model, mean, std, raw, rank).eval()
        raw_parity = raw_pixels(parity_inputs, mean, std, raw)
        return (
            wrapped,
            raw_pixels(trace_inputs, mean, std, raw),
            raw_parity,
            normalized(raw_parity, mean, std, raw),
        )

    @staticmethod
    def _slim(proto: onnx.ModelProto) -> tuple[onnx.ModelProto, dict[str, int]]:
        """Simplify the graph with onnxslim; the caller re-checks parity on the result."""
        import onnxslim

        before = len(proto.graph.node)
        try:
            with contextlib.redirect_stdout(io.StringIO()):  # onnxslim prints a summary table
                slimmed = onnxslim.slim(proto)
        except Exception as error:
            raise StageFailure(f"onnxslim failed: {one_line(error)}") from error
        if slimmed is None or not _batch_is_dynamic(slimmed):
            raise StageFailure("onnxslim returned a graph without a dynamic batch axis")
        return slimmed, {"nodes_before": before, "nodes_after": len(slimmed.graph.node)}

    def _export(
        self, model: nn.Module, trace_inputs: torch.Tensor, target: Path, caught: list[str]
    ) -> tuple[str, str | None]:
        """Export to ``target`` with the configured exporter; return (method, fallback reason)."""
        opts = self.options
        # In auto mode, skip an exporter that cannot reach the opset rather than watch it fail.
        use_dynamo = opts.dynamo == "on" or (
            opts.dynamo == "auto" and opts.opset >= DYNAMO_MIN_OPSET
        )
        can_fall_back = opts.dynamo == "auto" and opts.opset <= TORCHSCRIPT_MAX_OPSET
        if use_dynamo:
            try:
                self._export_with(True, model, trace_inputs, target, caught)
                return "dynamo", None
            except Exception as error:  # any exporter failure: fall back or report
                if not can_fall_back:
                    raise StageFailure(f"ONNX export (dynamo) failed: {one_line(error)}") from error
                reason = one_line(error)
        else:
            reason = None
        try:
            self._export_with(False, model, trace_inputs, target, caught)
        except Exception as error:
            before = f"dynamo exporter: {reason}; " if reason else ""
            raise StageFailure(
                f"ONNX export failed: {before}TorchScript exporter: {one_line(error)}"
            ) from error
        return "torchscript", reason

    def _export_with(
        self,
        dynamo: bool,
        model: nn.Module,
        trace_inputs: torch.Tensor,
        target: Path,
        caught: list[str],
    ) -> None:
        """Run one torch.onnx exporter and save its model as one file at ``target``.

        The exporter writes into a private folder first: it may put weights in external data
        files next to its output, and those must neither reach the run folder nor survive.
        ``onnx.load`` pulls them back in and ``onnx.save`` writes one self-contained file.
        """
        opts = self.options
        with tempfile.TemporaryDirectory(prefix="compressor-onnx-") as scratch:
            raw = Path(scratch) / "model.onnx"
            with _quiet_export(caught):
                if dynamo:
                    batch = torch.export.Dim("batch", min=1)
                    program = torch.onnx.export(
                        model,
                        (trace_inputs,),
                        dynamo=True,
                        input_names=[INPUT_NAME],
                        output_names=[OUTPUT_NAME],
                        opset_version=opts.opset,
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
                        output_names=[OUTPUT_NAME],
                        opset_version=opts.opset,
                        dynamic_axes={INPUT_NAME: {0: "batch"}, OUTPUT_NAME: {0: "batch"}},
                    )
            proto = onnx.load(str(raw))
            # torch.export may specialize the batch axis (e.g. a branch on x.shape[0]) without
            # raising; such a file would fail at any other batch size.
            if not _batch_is_dynamic(proto):
                raise RuntimeError(
                    f"the exported graph has a fixed batch size ({TRACE_BATCH}): the model's "
                    "forward depends on the batch size"
                )
            _strip_debug_info(proto.graph)
            try:
                onnx.save_model(proto, str(target), save_as_external_data=False)
            except ValueError as error:  # protobuf's 2 GB limit
                raise StageFailure(
                    f"ONNX model is too large for a single file: {one_line(error)}"
                ) from error

    @staticmethod
    def _check(path: Path, proto: onnx.ModelProto) -> None:
        """Run onnx.checker and strict shape inference; raise StageFailure on a bad file."""
        try:
            onnx.checker.check_model(str(path))
            onnx.shape_inference.infer_shapes(proto, check_type=True, strict_mode=True)
        except Exception as error:
            raise StageFailure(
                f"exported ONNX model failed the checker: {one_line(error)}"
            ) from error

    @staticmethod
    def _parity(path: Path, inputs: np.ndarray, expected: np.ndarray) -> tuple[float, float]:
        """Run ``path`` in onnxruntime on the CPU; return (max abs error, top-1 agreement)."""
        session_options = ort.SessionOptions()
        session_options.log_severity_level = 3  # errors only; ORT warns about routine fusions
        try:
            session = ort.InferenceSession(
                str(path), session_options, providers=["CPUExecutionProvider"]
            )
            (actual,) = session.run([OUTPUT_NAME], {INPUT_NAME: inputs})
        except Exception as error:
            raise StageFailure(
                f"onnxruntime could not run the exported model at batch {len(inputs)}: "
                f"{one_line(error)}"
            ) from error
        if actual.shape != expected.shape:
            raise StageFailure(
                f"ONNX output shape {list(actual.shape)} differs from PyTorch's "
                f"{list(expected.shape)} at batch {len(inputs)}"
            )
        actual = actual.astype(np.float32, copy=False)
        max_abs_error = float(np.max(np.abs(actual - expected))) if actual.size else 0.0
        top1 = (
            float(np.mean(actual.argmax(axis=-1) == expected.argmax(axis=-1)))
            if len(actual)
            else 1.0
        )
        return max_abs_error, top1
