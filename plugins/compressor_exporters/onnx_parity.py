"""The parity check: the exported file run in onnxruntime against the model run in PyTorch.

The figures are the largest absolute logit difference and the fraction of samples whose top-1
class agrees; :func:`require_parity` holds them to the ``onnx`` exporter's tolerances.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from torch import nn

from compressor.errors import StageFailure, one_line
from compressor_exporters import OnnxOptions
from compressor_exporters.torch_onnx import INPUT_NAME, OUTPUT_NAME


def reference_logits(model: nn.Module, inputs: torch.Tensor) -> np.ndarray:
    """What ``model`` answers for ``inputs`` in PyTorch, as float32 logits.

    Raises:
        StageFailure: ``model`` does not return one tensor.
    """
    with torch.no_grad():
        expected = model(inputs)
    if not isinstance(expected, torch.Tensor):
        raise StageFailure(
            f"ONNX export expects a model returning one logits tensor, got {type(expected).__name__}"
        )
    return expected.float().numpy()


def onnx_parity(path: Path, inputs: np.ndarray, expected: np.ndarray) -> tuple[float, float]:
    """Run ``path`` in onnxruntime on the CPU; return (max abs error, top-1 agreement)."""
    import onnxruntime as ort  # here, not at the top: validate imports this module

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
    return parity_figures(actual, expected)


def parity_figures(actual: np.ndarray, expected: np.ndarray) -> tuple[float, float]:
    """(max abs error, top-1 agreement) of a saved model's logits against PyTorch's.

    The one definition both exporters use. An empty batch shows nothing, so both figures are
    NaN and every tolerance check fails; so does a NaN anywhere in the logits.

    Args:
        actual: What the saved file answered, ``(N, classes)``.
        expected: What the model answered in PyTorch, the same shape.
    """
    if len(actual) == 0 or actual.size == 0:
        return float("nan"), float("nan")
    actual = np.asarray(actual, dtype=np.float32)
    expected = np.asarray(expected, dtype=np.float32)
    max_abs_error = float(np.max(np.abs(actual - expected)))
    top1 = float(np.mean(actual.argmax(axis=-1) == expected.argmax(axis=-1)))
    return max_abs_error, top1


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
        max_abs_error: Largest absolute logit difference (NaN fails).
        top1: Fraction of samples whose top-1 class agrees.
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
