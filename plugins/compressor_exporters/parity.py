"""Comparing a saved model's outputs with PyTorch's: the figures every exporter checks.

One comparison for every exporter and task: the largest absolute difference over every output,
and the fraction of samples whose answer agrees. The answer is what the outputs decide: the
top-1 class of a single logits output, or every integer output at once (a detector's labels,
which change when a box is lost, gained or reordered).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch

from compressor.errors import StageFailure


def as_outputs(value: Any) -> list[np.ndarray]:
    """A model's outputs (one tensor, or a tuple or list of them) as numpy arrays.

    Raises:
        StageFailure: Something other than tensors came back.
    """
    parts = value if isinstance(value, (tuple, list)) else (value,)
    if not parts or not all(isinstance(part, torch.Tensor) for part in parts):
        raise StageFailure(
            "export expects a model returning a tensor or a tuple of tensors, got "
            f"{type(value).__name__}"
        )
    return [p.detach().float().numpy() if p.is_floating_point() else p.numpy() for p in parts]


def _answers(outputs: Sequence[np.ndarray]) -> np.ndarray:
    """One row per sample holding what the outputs decide (see the module docstring)."""
    integers = [o for o in outputs if o.dtype.kind in "iub"]
    if integers:
        return np.concatenate([o.reshape(len(o), -1) for o in integers], axis=1)
    first = outputs[0]
    return first.reshape(len(first), -1).argmax(axis=-1)[:, None]


def compare(
    expected: Sequence[np.ndarray], actual: Sequence[np.ndarray], *, batch: int
) -> tuple[float, float]:
    """``(max abs error, agreement)`` of ``actual`` against ``expected``.

    An empty batch agrees (1.0) with no error (0.0): there is nothing to disagree on.

    Raises:
        StageFailure: A different number of outputs, or an output of another shape.
    """
    if len(actual) != len(expected):
        raise StageFailure(
            f"the saved model returns {len(actual)} outputs, PyTorch {len(expected)}, at batch "
            f"{batch}"
        )
    for want, got in zip(expected, actual, strict=True):
        if tuple(got.shape) != tuple(want.shape):
            raise StageFailure(
                f"the saved model's output shape {list(got.shape)} differs from PyTorch's "
                f"{list(want.shape)} at batch {batch}"
            )
    errors = [
        float(np.max(np.abs(got.astype(np.float64) - want.astype(np.float64))))
        for want, got in zip(expected, actual, strict=True)
        if want.size
    ]
    max_abs_error = max(errors) if errors else 0.0
    if not len(expected[0]):
        return max_abs_error, 1.0
    same = np.all(_answers(expected) == _answers(actual), axis=1)
    return max_abs_error, float(np.mean(same))
