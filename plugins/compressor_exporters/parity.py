"""Comparing a saved model's outputs with PyTorch's: the figures every exporter checks.

One comparison for every exporter and task: the largest absolute difference over the outputs,
and the fraction of samples whose answer agrees.

- Outputs of one answer per sample (a classifier's logits): the difference over every value,
  and the top-1 class.
- Outputs that are a set of rows per sample (a detector's ``boxes``, ``scores`` and
  ``labels``, ``(N, K, ...)`` with an integer ``(N, K)`` output): the order of rows whose
  scores tie to float rounding is not the model's answer, so rows are matched by label and
  values before they are compared. The difference is over matched rows; the agreement is the
  fraction of rows that found their match, all-zero padding rows aside (a candidate at the
  edge of the top-k or of NMS may come out on one side only, as float rounding decides).
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


def _row_sets(outputs: Sequence[np.ndarray]) -> bool:
    """Whether ``outputs`` are sets of ``K`` rows per sample, labelled by an integer output."""
    labels = [o for o in outputs if o.dtype.kind in "iub" and o.ndim == 2]
    if not labels or labels[0].shape[1] < 2:
        return False
    return all(o.shape[:2] == labels[0].shape for o in outputs)


def _rows(outputs: Sequence[np.ndarray], sample: int) -> tuple[np.ndarray, np.ndarray]:
    """One sample's rows: their integer labels ``(K, L)`` and their float values ``(K, F)``."""
    ints = [o[sample].reshape(o.shape[1], -1) for o in outputs if o.dtype.kind in "iub"]
    floats = [o[sample].reshape(o.shape[1], -1) for o in outputs if o.dtype.kind not in "iub"]
    values = np.concatenate(floats, axis=1) if floats else np.zeros((outputs[0].shape[1], 0))
    return np.concatenate(ints, axis=1), values.astype(np.float64)


def _matched(
    expected: Sequence[np.ndarray], actual: Sequence[np.ndarray], tolerance: float
) -> tuple[float, float]:
    """Row sets matched per sample: (largest difference of matched rows, agreement)."""
    worst, matched, rows = 0.0, 0, 0
    for sample in range(len(expected[0])):
        want_labels, want = _rows(expected, sample)
        got_labels, got = _rows(actual, sample)
        free = np.ones(len(want), dtype=bool)
        # Padding (every value 0) on both sides says nothing: only real rows count.
        real = int(max(np.count_nonzero(np.abs(w).sum(axis=1)) for w in (want, got)))
        found = 0
        for row in np.flatnonzero(np.abs(got).sum(axis=1)):
            same = free & np.all(want_labels == got_labels[row], axis=1)
            gaps = np.where(same, np.abs(want - got[row]).max(axis=1, initial=0.0), np.inf)
            best = int(np.argmin(gaps))
            if gaps[best] <= tolerance:
                free[best] = False
                found += 1
                worst = max(worst, float(gaps[best]))
        matched, rows = matched + found, rows + real
    return worst, (matched / rows if rows else 1.0)


def _answers(outputs: Sequence[np.ndarray]) -> np.ndarray:
    """One row per sample holding what the outputs decide (see the module docstring)."""
    integers = [o for o in outputs if o.dtype.kind in "iub"]
    if integers:
        return np.concatenate([o.reshape(len(o), -1) for o in integers], axis=1)
    first = outputs[0]
    return first.reshape(len(first), -1).argmax(axis=-1)[:, None]


#: Row sets: two rows are the same when no value differs by more than this (pixels, scores).
ROW_TOLERANCE = 1e-2


def compare(
    expected: Sequence[np.ndarray], actual: Sequence[np.ndarray], *, batch: int
) -> tuple[float, float]:
    """``(max abs error, agreement)`` of ``actual`` against ``expected`` (see the module).

    An empty batch shows nothing, so both figures are NaN and every tolerance check fails; so
    does a NaN anywhere in the outputs. (Scoring it 0.0 and 1.0 once let a broken parity batch
    pass.)

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
    if not len(expected[0]):
        return float("nan"), float("nan")
    if _row_sets(expected):
        return _matched(expected, actual, ROW_TOLERANCE)
    errors = [
        float(np.max(np.abs(got.astype(np.float64) - want.astype(np.float64))))
        for want, got in zip(expected, actual, strict=True)
        if want.size
    ]
    max_abs_error = max(errors, default=float("nan"))
    same = np.all(_answers(expected) == _answers(actual), axis=1)
    return max_abs_error, float(np.mean(same))
