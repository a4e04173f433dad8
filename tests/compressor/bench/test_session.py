"""compressor.bench.session: providers, input batches, and accuracy in onnxruntime."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from compressor.bench.session import (
    available_providers,
    batch_of,
    make_session,
    onnx_accuracy,
    providers_for,
)
from compressor.data import Split

# The legacy exporter is used to make fixtures quickly; its deprecation notice is expected.
pytestmark = pytest.mark.filterwarnings(
    "ignore:You are using the legacy TorchScript:DeprecationWarning"
)


def test_onnx_accuracy_equals_pytorch_accuracy(model_and_file, split) -> None:
    model, path = model_and_file
    with torch.no_grad():
        expected = int((model(split.x).argmax(1) == split.y).sum()) / len(split)
    session = make_session(path)
    # A batch size that does not divide the split checks the last, short batch.
    assert onnx_accuracy(session, split, 64) == pytest.approx(expected, abs=1e-12)
    assert onnx_accuracy(session, split, 1000) == pytest.approx(expected, abs=1e-12)


def test_batch_of_repeats_rows_of_a_small_split(split) -> None:
    small = Split(x=split.x[:3], y=split.y[:3])
    batch = batch_of(small, 8)
    assert batch.shape == (8, 1, 4, 4) and batch.dtype == np.float32
    np.testing.assert_array_equal(batch[3], small.x[0].numpy())


def test_batch_of_an_empty_split_is_an_error(split) -> None:
    with pytest.raises(ValueError, match="empty split"):
        batch_of(Split(x=split.x[:0], y=split.y[:0]), 1)


def test_cpu_device_uses_cpu_provider_only() -> None:
    assert providers_for("cpu") == ["CPUExecutionProvider"]
    assert providers_for("cuda")[-1] == "CPUExecutionProvider"
    assert available_providers("cpu") == ["cpu"]
    assert available_providers("cuda")[0] == "cpu"
