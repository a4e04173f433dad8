"""The parity figures both exporters hold their saved files to: one definition, NaN-safe."""

from __future__ import annotations

import math

import numpy as np
import pytest
from compressor_exporters import OnnxOptions, onnx_parity, torch_export_exporter
from compressor_exporters.onnx_parity import require_parity
from compressor_exporters.parity import compare

from compressor.errors import StageFailure


def _figures(actual: np.ndarray, expected: np.ndarray) -> tuple[float, float]:
    return compare([expected.astype(np.float32)], [actual.astype(np.float32)], batch=len(actual))


def test_parity_figures_count_by_hand() -> None:
    expected = np.array([[1.0, 0.0, 0.0], [0.0, 2.0, 0.0], [0.0, 0.0, 3.0], [5.0, 4.0, 0.0]])
    actual = expected.copy()
    actual[1, 1] = 1.75  # still class 1, off by 0.25
    actual[3] = [4.0, 4.5, 0.0]  # class 1 instead of 0, off by 1.0 and 0.5
    error, top1 = _figures(actual, expected)
    assert error == pytest.approx(1.0) and top1 == pytest.approx(0.75)


def test_an_empty_batch_or_a_nan_shows_nothing_and_fails_the_check() -> None:
    empty = np.zeros((0, 10), np.float32)
    assert all(math.isnan(v) for v in _figures(empty, empty))
    nan = np.full((2, 3), np.nan, np.float32)
    assert math.isnan(_figures(nan, np.zeros((2, 3), np.float32))[0])
    for figures in (_figures(empty, empty), _figures(nan, nan)):
        with pytest.raises(StageFailure, match="parity check failed"):
            require_parity(
                *figures,
                OnnxOptions(),
                samples=0,
                file_name="m.onnx",
                method="torchscript",
                fallback_reason=None,
            )


def test_both_exporters_use_the_one_definition() -> None:
    # The torch.export exporter once had its own copy, which scored an empty batch differently.
    assert torch_export_exporter.compare is compare and onnx_parity.compare is compare
