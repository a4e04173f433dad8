"""The ``torch_export`` exporter: a ``torch.export`` program saved as one ``.pt2`` file.

For PyTorch runtimes (Python, AOTInductor, ExecuTorch lowering) rather than onnxruntime. The
batch axis is dynamic, and the file is loaded back with ``torch.export.load`` and run at a
batch size other than the traced one before it may replace the destination.
"""

from __future__ import annotations

import copy
import io
import json
from pathlib import Path
from typing import Any

import torch
from torch import nn

from compressor.atomic import atomic_path
from compressor.errors import StageFailure, one_line
from compressor.export_context import ExportContext
from compressor_exporters import TorchExportOptions
from compressor_exporters.example_batches import TRACE_BATCH, example_batches
from compressor_exporters.onnx_parity import parity_figures


class TorchExportExporter:
    """Export a classifier with ``torch.export`` and check the saved program against it.

    Args:
        options: The validated :class:`~compressor_exporters.TorchExportOptions`.
    """

    def __init__(self, options: TorchExportOptions | None = None) -> None:
        self.options = options if options is not None else TorchExportOptions()

    def export(
        self,
        model: nn.Module,
        example_inputs: torch.Tensor,
        path: Path,
        *,
        context: ExportContext | None = None,
    ) -> dict[str, Any]:
        """Write ``model`` to ``path`` as a ``.pt2`` program, checked for parity.

        Args:
            model: The model; copied to the CPU in eval mode, never modified.
            example_inputs: Real, normalized inputs; two are traced, all are used for parity.
            path: Destination; written atomically, only if the check passes.
            context: Recorded in the file's ``extra_files`` as ``compressor.json``.

        Returns:
            ``exporter``, ``method``, ``max_abs_error``, ``top1_agreement``, ``parity_batch``,
            ``trace_batch`` and ``file_bytes``.

        Raises:
            StageFailure: torch.export failed, or the reloaded program disagrees with the model.
        """
        opts = self.options
        cpu_model = copy.deepcopy(model).to("cpu").eval()
        inputs, trace, parity = example_batches(example_inputs, exporter="torch.export")
        try:
            program = torch.export.export(
                cpu_model, (trace,), dynamic_shapes=({0: torch.export.Dim("batch", min=1)},)
            )
        except Exception as error:
            raise StageFailure(f"torch.export failed: {one_line(error)}") from error

        extra = {"compressor.json": json.dumps(_describe(context, list(inputs.shape[1:])))}
        with atomic_path(path) as tmp:
            # Through a buffer: torch.export wants file names ending in .pt2, and the temporary
            # file's name does not.
            buffer = io.BytesIO()
            torch.export.save(program, buffer, extra_files=extra)
            tmp.write_bytes(buffer.getvalue())
            try:
                loaded = torch.export.load(io.BytesIO(tmp.read_bytes())).module()
                with torch.no_grad():
                    actual = loaded(parity)
                    expected = cpu_model(parity)
            except Exception as error:
                raise StageFailure(
                    f"the saved program could not run at batch {len(parity)}: {one_line(error)}"
                ) from error
            max_abs_error, top1 = parity_figures(actual.float().numpy(), expected.float().numpy())
            if not (max_abs_error <= opts.atol) or not (top1 >= opts.min_top1_agreement):
                raise StageFailure(
                    f"torch.export parity check failed for {Path(path).name}: max |pt2 - torch| = "
                    f"{max_abs_error:.3g} (atol {opts.atol:g}), top-1 agreement {top1:.2%} (min "
                    f"{opts.min_top1_agreement:.2%}) on {len(parity)} samples"
                )
            file_bytes = tmp.stat().st_size
        return {
            "exporter": "torch_export",
            "method": "torch.export",
            "max_abs_error": max_abs_error,
            "top1_agreement": top1,
            "parity_batch": len(parity),
            "trace_batch": TRACE_BATCH,
            "file_bytes": file_bytes,
        }


def _describe(context: ExportContext | None, sample_shape: list[int]) -> dict[str, Any]:
    """What the ``.pt2`` file carries about its input, data and recipe."""
    ctx = context or ExportContext()
    return {
        "input_shape": ["batch", *sample_shape],
        "normalization": "external",
        "mean": list(ctx.mean),
        "std": list(ctx.std),
        "class_names": list(ctx.class_names),
        "preprocessing": ctx.preprocessing,
        "recipe": ctx.recipe_name,
        "recipe_hash": ctx.recipe_hash,
        "torch_version": torch.__version__,
    }
