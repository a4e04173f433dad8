"""The ``onnx`` exporter: torch.onnx with a dynamic batch axis, checked in onnxruntime.

The file is written through :func:`compressor.atomic.atomic_path`: the export
(:mod:`~compressor_exporters.torch_onnx`), the optional folding and slimming, the metadata and
the checker (:mod:`~compressor_exporters.onnx_file`) and the parity check
(:mod:`~compressor_exporters.onnx_parity`) all run on the temporary file, so a failed check (or
a crash) leaves nothing at the destination. This module prepares the inputs and reports the
facts.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from compressor.atomic import atomic_path
from compressor.errors import StageFailure
from compressor.export_context import ExportContext
from compressor_exporters import OnnxOptions
from compressor_exporters.example_batches import TRACE_BATCH, example_batches
from compressor_exporters.metadata import build_metadata
from compressor_exporters.onnx_file import finish_file
from compressor_exporters.onnx_parity import onnx_parity, reference_outputs, require_parity
from compressor_exporters.preprocessing import EmbeddedPreprocessing, normalized, raw_pixels
from compressor_exporters.torch_onnx import INPUT_NAME, export_onnx


@dataclass
class _Prepared:
    """What one export runs on, from the caller's model and example inputs.

    Attributes:
        model: The model exported: a CPU copy in eval mode, wrapped when the file embeds the
            preprocessing.
        trace_inputs: The batch traced, as ``model`` takes it.
        onnx_inputs: The parity batch as the file takes it (raw pixels when embedded).
        expected: PyTorch's outputs for the parity batch, one array per output.
        sample_shape: The shape of one sample.
        output_names: The file's outputs (the task's; ``logits`` for classification).
    """

    model: nn.Module
    trace_inputs: torch.Tensor
    onnx_inputs: torch.Tensor
    expected: list[np.ndarray]
    sample_shape: list[int]
    output_names: tuple[str, ...]


class OnnxExporter:
    """Export a model's deployed form to one self-contained ``.onnx`` file with a dynamic batch
    axis: a classifier's logits, a detector's boxes, scores and labels (the outputs the
    export context names).

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
        prepared = self._prepare(model, example_inputs, context)
        caught: list[str] = []
        facts: dict[str, Any] = {"exporter": "onnx"}
        with atomic_path(path) as tmp:
            method, fallback_reason = export_onnx(
                prepared.model, prepared.trace_inputs, tmp, opts, caught, prepared.output_names
            )
            entries = self._metadata(prepared, method, context)
            opset, graph_facts = finish_file(tmp, opts, method=method, metadata=entries)
            facts.update(graph_facts)
            max_abs_error, top1 = onnx_parity(
                tmp, prepared.onnx_inputs.numpy(), prepared.expected, list(prepared.output_names)
            )
            require_parity(
                max_abs_error,
                top1,
                opts,
                samples=len(prepared.onnx_inputs),
                file_name=Path(path).name,
                method=method,
                fallback_reason=fallback_reason,
            )
            file_bytes = tmp.stat().st_size

        facts.update(
            {
                "method": method,
                "opset": opset,
                "max_abs_error": max_abs_error,
                "top1_agreement": top1,
                "parity_batch": len(prepared.onnx_inputs),
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

    def _prepare(
        self, model: nn.Module, example_inputs: torch.Tensor, context: ExportContext | None
    ) -> _Prepared:
        """Copy ``model`` to the CPU, choose the traced and parity batches, compute PyTorch's logits.

        Raises:
            StageFailure: No example input, ``embed_preprocessing`` without a mean and std, or a
                model that does not return one tensor.
        """
        cpu_model = copy.deepcopy(model).to("cpu").eval()
        inputs, trace_inputs, parity_inputs = example_batches(
            example_inputs, exporter="ONNX export"
        )
        export_model: nn.Module = cpu_model
        onnx_parity_inputs = parity_inputs
        if self.options.embed_preprocessing:
            export_model, trace_inputs, onnx_parity_inputs, parity_inputs = self._embed(
                cpu_model, trace_inputs, parity_inputs, context
            )
        return _Prepared(
            model=export_model,
            trace_inputs=trace_inputs,
            onnx_inputs=onnx_parity_inputs,
            expected=reference_outputs(cpu_model, parity_inputs),
            sample_shape=list(inputs.shape[1:]),
            output_names=tuple(context.outputs) if context is not None else ("logits",),
        )

    def _metadata(
        self, prepared: _Prepared, method: str, context: ExportContext | None
    ) -> dict[str, str]:
        """The file's ``metadata_props``: its input and output, the data, the run, the versions."""
        return build_metadata(
            sample_shape=prepared.sample_shape,
            input_name=INPUT_NAME,
            output_names=list(prepared.output_names),
            input_dtype=str(prepared.onnx_inputs.numpy().dtype),
            embedded=self.options.embed_preprocessing,
            raw_input=self.options.raw_input,
            context=context,
            exporter=f"onnx ({method})",
        )

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
