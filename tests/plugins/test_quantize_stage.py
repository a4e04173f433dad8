"""The ``quantize`` stage: dynamic and static INT8, accuracy logged, clear failures, no debris."""

from __future__ import annotations

import types
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pydantic
import pytest
import torch
from compressor_exporters import OnnxOptions
from compressor_exporters.onnx_exporter import OnnxExporter
from compressor_stages.options import QuantizeOptions
from compressor_stages.quantize import QuantizeStage, gemm_to_matmul, quantize_file
from torch import nn

from compressor.artifacts import FileArtifact
from compressor.context import RunContext, StageContext, StageInfo
from compressor.data import DataBundle, Split
from compressor.errors import StageFailure, UsageError
from compressor.export_context import ExportContext
from compressor.run.progress import Progress

pytestmark = pytest.mark.filterwarnings(
    "ignore:You are using the legacy TorchScript:DeprecationWarning"
)

MEAN, STD = (0.4,), (0.3,)


def _bundle() -> DataBundle:
    g = torch.Generator().manual_seed(0)
    centers = torch.randn(3, 1, 8, 8, generator=g)

    def split(n: int) -> Split:
        y = torch.randint(0, 3, (n,), generator=g)
        return Split(x=centers[y] + 0.3 * torch.randn(n, 1, 8, 8, generator=g), y=y)

    return DataBundle(
        name="blobs",
        train=split(96),
        val=split(16),
        test=split(60),
        num_classes=3,
        input_shape=(1, 8, 8),
        mean=MEAN,
        std=STD,
    )


@pytest.fixture(scope="module")
def bundle() -> DataBundle:
    return _bundle()


def _export(folder: Path, name: str, model: nn.Module, x: torch.Tensor, **options) -> FileArtifact:
    path = folder / name
    context = ExportContext(mean=MEAN, std=STD)
    OnnxExporter(OnnxOptions(dynamo="off", **options)).export(
        model.eval(), x, path, context=context
    )
    return FileArtifact(
        name=name, path=path, format="onnx", source="student", meta={"params": 1, "macs": 2}
    )


@pytest.fixture(scope="module")
def files(tmp_path_factory, bundle) -> dict[str, FileArtifact]:
    folder = tmp_path_factory.mktemp("quantize")
    torch.manual_seed(0)
    mlp = nn.Sequential(nn.Flatten(), nn.Linear(64, 128), nn.ReLU(), nn.Linear(128, 3))
    x = bundle.test.x[:16]
    return {
        "student.onnx": _export(folder, "student.onnx", mlp, x),
        "raw.onnx": _export(
            folder, "raw.onnx", mlp, x, embed_preprocessing=True, raw_input="uint8"
        ),
        "relu.onnx": _export(folder, "relu.onnx", nn.Sequential(nn.ReLU(), nn.Flatten()), x),
    }


def _context(
    tmp_path: Path, files: dict, options: QuantizeOptions, inputs: list[str]
) -> StageContext:
    run = RunContext(
        recipe=types.SimpleNamespace(data=types.SimpleNamespace(eval_batch_size=32, batch_size=16)),
        registry=None,
        run_dir=tmp_path,
        device="cpu",
        seed=0,
        progress=Progress(enabled=False),
        artifacts=dict(files),
        _data=_bundle(),
    )
    outputs = {"files": [f"{n.removesuffix('.onnx')}.int8.onnx" for n in inputs]}
    info = StageInfo(
        name="quantize",
        type="quantize",
        index=4,
        options=options,
        inputs={"models": inputs},
        outputs=outputs,
    )
    return StageContext(run, info)


def test_gemm_to_matmul_keeps_the_numbers(files, bundle) -> None:
    proto = onnx.load(str(files["student.onnx"].path))
    assert gemm_to_matmul(proto) == 2
    assert "Gemm" not in {n.op_type for n in proto.graph.node}
    x = bundle.test.x[:5].numpy()
    before = ort.InferenceSession(str(files["student.onnx"].path)).run(None, {"input": x})[0]
    after = ort.InferenceSession(proto.SerializeToString()).run(None, {"input": x})[0]
    np.testing.assert_allclose(after, before, atol=1e-5)


@pytest.mark.parametrize("mode", ["dynamic", "static"])
def test_stage_writes_int8_and_logs_accuracy(tmp_path, files, mode) -> None:
    options = QuantizeOptions(mode=mode, calibration_batches=2)
    ctx = _context(tmp_path, files, options, ["student.onnx"])
    QuantizeStage(options).run(ctx)

    (logged,) = ctx.run.metrics["quantize"]["files"].values()
    assert logged["mode"] == mode and logged["size_ratio"] > 2.5
    assert logged["calibration_samples"] == (32 if mode == "static" else 0)
    assert abs(logged["accuracy_delta_points"]) <= 10 and 0 < logged["int8_accuracy"] <= 1
    marker = "QuantizeLinear" if mode == "static" else "MatMulInteger"
    assert marker in logged["quantized_ops"]
    artifact = ctx.run.artifacts["student.int8.onnx"]
    assert artifact.source == "student.onnx" and artifact.meta["quantized_from"] == "student.onnx"
    assert artifact.meta["precision"] == "int8" and artifact.meta["params"] == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["student.int8.onnx"]


def test_static_calibration_feeds_raw_pixels_to_an_embedded_model(tmp_path, files) -> None:
    options = QuantizeOptions(
        mode="static",
        calibration_batches=2,
        per_channel=True,
        integer_input=False,
        keep_fp32_below=0,
    )
    ctx = _context(tmp_path, files, options, ["raw.onnx"])
    QuantizeStage(options).run(ctx)
    logged = ctx.run.metrics["quantize"]["files"]["raw.int8.onnx"]
    # Calibrated on normalized floats instead, the uint8 input would not even run.
    assert logged["int8_accuracy"] >= logged["fp32_accuracy"] - 0.1
    assert not logged["integer_input"] and logged["kept_fp32"] == []


@pytest.mark.parametrize("mode", ["dynamic", "static"])
def test_raw_uint8_input_goes_straight_into_the_int8_first_layer(tmp_path, files, mode) -> None:
    options = QuantizeOptions(mode=mode, calibration_batches=2, per_channel=True)
    ctx = _context(tmp_path, files, options, ["raw.onnx"])
    QuantizeStage(options).run(ctx)
    logged = ctx.run.metrics["quantize"]["files"]["raw.int8.onnx"]
    assert logged["integer_input"] and logged["quantized_ops"] == {"MatMulIntegerToFloat": 1}
    assert len(logged["kept_fp32"]) == 1  # the 128x3 head: 384 weights, below 4096
    assert logged["calibration_samples"] == 0  # nothing left whose activations need ranges
    ops = [n.op_type for n in onnx.load(str(tmp_path / "raw.int8.onnx")).graph.node]
    assert "Cast" not in ops and "QuantizeLinear" not in ops and "DynamicQuantizeLinear" not in ops
    assert logged["int8_accuracy"] >= logged["fp32_accuracy"] - 0.05 and logged["size_ratio"] > 2.5


def test_small_layers_stay_fp32_unless_all_are_small(tmp_path, files) -> None:
    source = files["student.onnx"].path
    kept = quantize_file(
        source,
        tmp_path / "a.onnx",
        mode="static",
        per_channel=False,
        preprocess=True,
        calibration=[np.zeros((4, 1, 8, 8), np.float32)],
        keep_fp32_below=4096,
    )
    assert len(kept["kept_fp32"]) == 1 and kept["quantized_ops"]["QuantizeLinear"] >= 2
    every = quantize_file(
        source,
        tmp_path / "b.onnx",
        mode="dynamic",
        per_channel=False,
        preprocess=True,
        keep_fp32_below=10**6,
    )
    assert every["kept_fp32"] == [] and every["quantized_ops"].get("MatMulInteger") == 2


def test_a_model_without_quantizable_ops_is_a_clear_error(tmp_path, files) -> None:
    target = tmp_path / "relu.int8.onnx"
    with pytest.raises(StageFailure, match=r"cannot quantize relu.onnx: it has no op .*Relu"):
        quantize_file(
            files["relu.onnx"].path, target, mode="dynamic", per_channel=False, preprocess=True
        )
    assert list(tmp_path.iterdir()) == []


def test_accuracy_guard_removes_the_file(tmp_path, files, monkeypatch) -> None:
    from compressor.bench import session

    accuracies = iter([0.9, 0.5])  # FP32, then INT8
    monkeypatch.setattr(session, "onnx_accuracy", lambda *args, **kwargs: next(accuracies))
    options = QuantizeOptions(max_accuracy_drop=0.0)
    ctx = _context(tmp_path, files, options, ["student.onnx"])
    with pytest.raises(StageFailure, match=r"lost 40.00 accuracy points .*max_accuracy_drop 0"):
        QuantizeStage(options).run(ctx)
    assert list(tmp_path.iterdir()) == []


def test_a_pytorch_model_is_a_usage_error(tmp_path, files) -> None:
    options = QuantizeOptions()
    ctx = _context(
        tmp_path,
        {"student": types.SimpleNamespace(name="student", format="")},
        options,
        ["student"],
    )
    with pytest.raises(UsageError, match="export it first"):
        QuantizeStage(options).run(ctx)


def test_options_reject_nonsense() -> None:
    for bad in (
        {"mode": "int4"},
        {"calibration_batches": 0},
        {"max_accuracy_drop": -1},
        {"x": 1},
        {"keep_fp32_below": -1},
    ):
        with pytest.raises(pydantic.ValidationError):
            QuantizeOptions.model_validate(bad)
