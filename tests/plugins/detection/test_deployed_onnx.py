"""A pruned dense detector's deployed form in ONNX: same result as PyTorch, any batch size.

One file serves every test: a tiny detector, pruned to half its channels by the prune stage's
engine, wrapped by the task's ``deployable`` and exported by the ``onnx`` exporter's
torch.onnx path (dynamo exporter, dynamic batch axis).
"""

from __future__ import annotations

from pathlib import Path
from typing import cast

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch
import torch_pruning as tp
from compressor_detection.options import DetectionOptions
from compressor_detection.task import DetectionTask
from compressor_exporters import OnnxOptions
from compressor_exporters.torch_onnx import export_onnx
from torch import nn

from compressor.model.pruning import PruneSettings, prune_model
from tests.plugins.detection.detectors import ANCHORS, CLASSES, SHAPE, lively, tiny_detector

TASK = DetectionTask(DetectionOptions(max_detections=30, candidates=60, score_threshold=0.5))


@pytest.fixture(scope="module")
def exported(tmp_path_factory: pytest.TempPathFactory) -> tuple[nn.Module, Path, int]:
    model = tiny_detector()
    example = torch.randn(2, *SHAPE)
    before = sum(p.numel() for p in model.parameters())
    prune_model(
        model,
        importance=tp.importance.MagnitudeImportance(p=2),
        example_inputs=example,
        ignored_layers=TASK.kept_whole(model, CLASSES),
        settings=PruneSettings(ratio=0.5),
    )
    deployed = TASK.deployable(lively(model)).eval()
    path = tmp_path_factory.mktemp("onnx") / "detector.onnx"
    method, _ = export_onnx(deployed, example, path, OnnxOptions(), [])
    assert method == "dynamo"
    return deployed, path, before


def run(path: Path, x: torch.Tensor) -> list[np.ndarray]:
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    result: list[np.ndarray] = session.run(None, {"input": x.numpy()})
    return result


def test_pruning_kept_the_outputs_and_halved_the_rest(exported: tuple) -> None:
    deployed, _, before = exported
    model = deployed.model
    assert sum(p.numel() for p in model.parameters()) < 0.4 * before
    raw = model(torch.randn(1, *SHAPE))
    assert raw.shape == (1, ANCHORS, CLASSES + 5)
    assert cast(nn.Conv2d, model.neck.laterals[0]).out_channels == 8


def test_onnx_gives_pytorch_result_for_a_batch_with_an_empty_image(exported: tuple) -> None:
    deployed, path, _ = exported
    torch.manual_seed(3)
    x = torch.randn(3, *SHAPE)
    x[1] = 0.0  # no objects (see lively in detectors.py)
    with torch.no_grad():
        expected = [t.numpy() for t in deployed(x)]
    got = run(path, x)
    assert [g.shape for g in got] == [(3, 30, 4), (3, 30), (3, 30)]
    assert [g.dtype for g in got] == [np.float32, np.float32, np.int64]
    np.testing.assert_allclose(got[0], expected[0], atol=1e-4)
    np.testing.assert_allclose(got[1], expected[1], atol=1e-5)
    np.testing.assert_array_equal(got[2], expected[2])
    assert (got[2][1] == -1).all() and (got[1][1] == 0).all() and (got[0][1] == 0).all()
    found = got[2][0] >= 0
    assert 3 < found.sum() < 30, "the parity case should have some detections and some padding"
    assert (np.diff(got[1][0]) <= 0).all(), "scores are sorted, descending"


def test_onnx_runs_at_batch_one(exported: tuple) -> None:
    deployed, path, _ = exported
    x = torch.randn(1, *SHAPE)
    with torch.no_grad():
        expected = deployed(x)[1].numpy()
    np.testing.assert_allclose(run(path, x)[1], expected, atol=1e-5)


def test_only_convolutions_carry_weights_so_decode_and_nms_stay_float(exported: tuple) -> None:
    # The INT8 quantizer keeps every node after the last Conv/Gemm/MatMul in float.
    deployed, path, _ = exported
    graph = onnx.load(str(path)).graph
    ops = [node.op_type for node in graph.node]
    assert "MatMul" not in ops and "Gemm" not in ops
    convs = sum(isinstance(m, nn.Conv2d) for m in deployed.modules())
    assert ops.count("Conv") == convs
    dims = [d.dim_param or d.dim_value for d in graph.output[0].type.tensor_type.shape.dim]
    assert isinstance(dims[0], str) and dims[1:] == [30, 4]
