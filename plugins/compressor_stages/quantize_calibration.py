"""Calibration data for static quantization: which training rows, and how onnxruntime reads them.

Activation ranges are calibrated on batches of the recipe's *training* split, never the test
split the report's accuracy comes from; the rows are drawn with the stage's seed, so a rerun
calibrates on the same ones.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from compressor.data import NumpyRows


class SplitReader:
    """A ``CalibrationDataReader`` over fixed batches (onnxruntime calls ``get_next`` until None)."""

    def __init__(self, input_name: str, batches: list[np.ndarray]) -> None:
        self.input_name = input_name
        self._batches = iter(batches)

    def get_next(self) -> dict[str, np.ndarray] | None:
        batch = next(self._batches, None)
        return None if batch is None else {self.input_name: batch}


def calibration_batches(
    x: np.ndarray | NumpyRows, batches: int, batch_size: int, seed: int
) -> list[np.ndarray]:
    """``batches`` batches of ``batch_size`` rows drawn without replacement (as far as they go)."""
    order = np.random.default_rng(seed).permutation(len(x))
    take = order[: batches * batch_size]
    return [
        np.ascontiguousarray(x[take[i : i + batch_size]]) for i in range(0, len(take), batch_size)
    ]
