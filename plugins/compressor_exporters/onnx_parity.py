"""The parity check: the exported file run in onnxruntime against the model run in PyTorch.

The figures are the largest absolute difference over the outputs and the fraction of samples
whose answer agrees (the top-1 class; a detector's labels: :mod:`compressor_exporters.parity`);
:func:`require_parity` holds them to the ``onnx`` exporter's tolerances.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from torch import nn

from compressor.errors import StageFailure, one_line
from compressor_exporters import OnnxOptions
from compressor_exporters.parity import as_outputs, compare
from compressor_exporters.torch_onnx import INPUT_NAME


def reference_outputs(model: nn.Module, inputs: torch.Tensor) -> list[np.ndarray]:
    """What ``model`` answers for ``inputs`` in PyTorch, one array per output.

    Raises:
        StageFailure: ``model`` returns something other than tensors.
    """
    with torch.no_grad():
        return as_outputs(model(inputs))


def onnx_parity(
    path: Path, inputs: np.ndarray, expected: list[np.ndarray], output_names: list[str]
) -> tuple[float, float]:
    """Run ``path`` in onnxruntime on the CPU; return (max abs error, agreement)."""
    import onnxruntime as ort  # here, not at the top: validate imports this module

    session_options = ort.SessionOptions()
    session_options.log_severity_level = 3  # errors only; ORT warns about routine fusions
    try:
        session = ort.InferenceSession(
            str(path), session_options, providers=["CPUExecutionProvider"]
        )
        actual = session.run(output_names, {INPUT_NAME: inputs})
    except Exception as error:
        raise StageFailure(
            f"onnxruntime could not run the exported model at batch {len(inputs)}: "
            f"{one_line(error)}"
        ) from error
    return compare(expected, list(actual), batch=len(inputs))


def require_parity(
    max_abs_error: float,
    top1: float,
    options: OnnxOptions,
    *,
    samples: int,
    file_name: str,
    method: str,
    fallback_reason: str | None,
) -> None:
    """Fail unless the parity figures are within ``options``' ``atol`` and ``min_top1_agreement``.

    Args:
        max_abs_error: Largest absolute output difference (NaN fails).
        top1: Fraction of samples whose answer agrees (the top-1 class).
        options: The tolerances; ``slim`` is named in the message when it ran.
        samples: How many samples the figures cover.
        file_name: The destination's name, for the message.
        method: ``dynamo`` or ``torchscript``.
        fallback_reason: Why the dynamo exporter was not used, if it was tried.

    Raises:
        StageFailure: A figure is outside its tolerance; the message gives both figures.
    """
    # Any comparison with NaN is false, so a NaN error fails too.
    if max_abs_error <= options.atol and top1 >= options.min_top1_agreement:
        return
    figures = (
        f"max |onnx - torch| = {max_abs_error:.3g} (atol {options.atol:g}), top-1 agreement "
        f"{top1:.2%} (min {options.min_top1_agreement:.2%}) on {samples} samples"
    )
    # The dynamo failure is often the cause (e.g. a batch-dependent forward).
    why = f"; the dynamo exporter was not used: {fallback_reason}" if fallback_reason else ""
    slimmed = " after onnxslim" if options.slim else ""
    raise StageFailure(
        f"ONNX parity check failed for {file_name} ({method}){slimmed}: {figures}{why}"
    )
