"""The ``quantize`` stage: auto, dynamic and static INT8, accuracy logged, clear failures, no
debris; convolutions quantized by block."""

from __future__ import annotations

import io
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
from compressor_stages import quantize_auto
from compressor_stages.options import QuantizeOptions
from compressor_stages.quantize import QuantizeStage, gemm_to_matmul, quantize_file
from compressor_stages.quantize_auto import Candidate, choose
from rich.console import Console
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


def _bundle(side: int = 8) -> DataBundle:
    g = torch.Generator().manual_seed(0)
    centers = torch.randn(3, 1, side, side, generator=g)

    def split(n: int) -> Split:
        y = torch.randint(0, 3, (n,), generator=g)
        return Split(x=centers[y] + 0.3 * torch.randn(n, 1, side, side, generator=g), y=y)

    return DataBundle(
        name="blobs",
        train=split(96),
        val=split(16),
        test=split(60),
        num_classes=3,
        input_shape=(1, side, side),
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


def separable_cnn() -> nn.Module:
    """A depthwise-separable CNN for 1x16x16 inputs whose convolutions but one are small.

    Weights: stem 144, pointwise 512, depthwise 3x3 288, pointwise 6,144, head 576. Judged
    one by one against ``keep_fp32_below: 4096``, all but the second pointwise convolution
    would stay FP32, and INT8 and FP32 layers would alternate.
    """
    torch.manual_seed(0)
    return nn.Sequential(
        nn.Conv2d(1, 16, 3, padding=1, bias=False),
        nn.BatchNorm2d(16),
        nn.ReLU(),
        nn.Conv2d(16, 32, 1),
        nn.ReLU(),
        nn.Conv2d(32, 32, 3, padding=1, groups=32),
        nn.ReLU(),
        nn.Conv2d(32, 192, 1),
        nn.ReLU(),
        nn.AdaptiveAvgPool2d(1),
        nn.Flatten(),
        nn.Linear(192, 3),
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
        "cnn.onnx": _export(folder, "cnn.onnx", separable_cnn(), _bundle(16).test.x[:16]),
    }


def _context(
    tmp_path: Path,
    files: dict,
    options: QuantizeOptions,
    inputs: list[str],
    console: io.StringIO | None = None,
) -> StageContext:
    progress = Progress(enabled=False)
    if console is not None:
        progress = Progress(Console(file=console, width=400), enabled=True)
    run = RunContext(
        recipe=types.SimpleNamespace(data=types.SimpleNamespace(eval_batch_size=32, batch_size=16)),
        registry=None,
        run_dir=tmp_path,
        device="cpu",
        seed=0,
        progress=progress,
        artifacts=dict(files),
        _data=_bundle(16 if inputs == ["cnn.onnx"] else 8),
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
    # An explicit mode builds what it always built: per tensor, int8 activations, no timing.
    assert logged["per_channel"] is False and "candidates" not in logged
    assert logged.get("activations") == ("int8" if mode == "static" else None)
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

    read = []

    def accuracy(session, split, *args, **kwargs) -> float:
        read.append(len(split))
        return [0.9, 0.5][len(read) - 1]  # FP32, then INT8

    monkeypatch.setattr(session, "onnx_accuracy", accuracy)
    options = QuantizeOptions(mode="dynamic", max_accuracy_drop=0.0)
    ctx = _context(tmp_path, files, options, ["student.onnx"])
    with pytest.raises(StageFailure, match=r"lost 40.00 val accuracy points .*max_accuracy_drop 0"):
        QuantizeStage(options).run(ctx)
    assert list(tmp_path.iterdir()) == []
    assert read == [len(ctx.data.val)] * 2  # a choice: on validation, and test never read


def _accuracy_by_split(monkeypatch, data: DataBundle) -> None:
    """FP32 and INT8 score 0.75 and 0.70 on validation, 0.60 and 0.50 on test: each figure
    shows which split it came from."""
    from compressor.bench import session

    by_split = {id(data.val): (0.75, 0.70), id(data.test): (0.60, 0.50)}

    def accuracy(path, split, *args, **kwargs) -> float:
        fp32, int8 = by_split[id(split)]
        return fp32 if Path(path).name == "cnn.onnx" else int8

    # The "session" is the file's path: only the accuracy (faked here) reads it.
    monkeypatch.setattr(session, "make_session", lambda path, *args, **kwargs: path)
    monkeypatch.setattr(session, "onnx_accuracy", accuracy)


@pytest.mark.parametrize("mode", ["dynamic", "auto"])
def test_choices_are_made_on_validation_and_test_scores_only_the_chosen_file(
    tmp_path, files, monkeypatch, mode
) -> None:
    fast = _fake_timing({"fp32": 1.0, "static": 0.5, "dynamic": 0.8})
    monkeypatch.setattr(quantize_auto, "time_candidates", fast)
    options = QuantizeOptions(
        mode=mode, calibration_batches=2, auto_batches=[1, 4], max_accuracy_drop=10.0
    )
    ctx = _context(tmp_path, files, options, ["cnn.onnx"])
    _accuracy_by_split(monkeypatch, ctx.data)
    QuantizeStage(options).run(ctx)

    logged = ctx.run.metrics["quantize"]["files"]["cnn.int8.onnx"]
    assert logged["chosen_on"] == "val" and logged["split"] == "test"
    assert (logged["val_fp32_accuracy"], logged["val_int8_accuracy"]) == (0.75, 0.70)
    assert (logged["test_fp32_accuracy"], logged["test_int8_accuracy"]) == (0.60, 0.50)
    assert (logged["fp32_accuracy"], logged["int8_accuracy"]) == (0.60, 0.50)
    assert logged["val_accuracy_delta_points"] == pytest.approx(-5.0)
    assert logged["test_accuracy_delta_points"] == pytest.approx(-10.0)
    # What metrics.json and the report call test_accuracy was measured on test.
    assert ctx.run.artifacts["cnn.int8.onnx"].meta["test_accuracy"] == 0.50
    if mode == "auto":
        static = logged["candidates"]["static"]
        assert static["val_accuracy"] == 0.70 and "accuracy" not in static
        assert "val accuracy -5.00 points" in logged["reason"]


def test_choosing_on_test_is_said_explicitly_and_logged(
    tmp_path, files, monkeypatch, caplog
) -> None:
    options = QuantizeOptions(mode="dynamic", split="test")
    ctx = _context(tmp_path, files, options, ["cnn.onnx"])
    _accuracy_by_split(monkeypatch, ctx.data)
    with caplog.at_level("WARNING", logger="compressor"):
        QuantizeStage(options).run(ctx)
    logged = ctx.run.metrics["quantize"]["files"]["cnn.int8.onnx"]
    assert logged["chosen_on"] == "test" and "val_int8_accuracy" not in logged
    assert (logged["test_fp32_accuracy"], logged["test_int8_accuracy"]) == (0.60, 0.50)
    assert "chosen on the test split (stages.quantize.split: test)" in caplog.text


def test_the_default_choice_split_is_validation() -> None:
    assert QuantizeOptions().split == "val"


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
        {"mode": "fastest"},
        {"auto_batches": []},
        {"auto_batches": [0]},
        {"auto_seconds": 0},
        {"min_speedup": 0.9},
        {"threads": 0},
        {"activations": "int4"},
    ):
        with pytest.raises(pydantic.ValidationError):
            QuantizeOptions.model_validate(bad)


def _qdq_weights(path: Path) -> set[str]:
    """Names of the Conv nodes whose weight comes through a DequantizeLinear (INT8 weights)."""
    graph = onnx.load(str(path)).graph
    dequantized = {n.output[0] for n in graph.node if n.op_type == "DequantizeLinear"}
    return {n.name for n in graph.node if n.op_type == "Conv" and n.input[1] in dequantized}


def test_every_convolution_of_a_separable_cnn_is_quantized_as_one_block(tmp_path, files) -> None:
    facts = quantize_file(
        files["cnn.onnx"].path,
        tmp_path / "cnn.int8.onnx",
        mode="static",
        per_channel=True,
        preprocess=True,
        calibration=[_bundle(16).train.x[:16].numpy()],
        keep_fp32_below=4096,
    )
    graph = onnx.load(str(tmp_path / "cnn.int8.onnx")).graph
    convs = {n.name for n in graph.node if n.op_type == "Conv"}
    assert len(convs) == 4 and _qdq_weights(tmp_path / "cnn.int8.onnx") == convs
    # Only the classifier head, alone after the pooling, stays FP32 for its 576 weights.
    (head,) = facts["kept_fp32"]
    assert next(n for n in graph.node if n.name == head).op_type in {"Gemm", "MatMul"}


def _measured(name: str, accuracy: float, **p50: float) -> Candidate:
    return Candidate(
        name,
        path=Path(f"{name}.onnx"),
        accuracy=accuracy,
        p50_ms={int(b.removeprefix("b")): ms for b, ms in p50.items()},
    )


FP32_TIMES = _measured("fp32", 0.90, b1=6.0, b32=100.0)


def test_auto_keeps_the_fastest_accurate_candidate() -> None:
    static = _measured("static", 0.895, b1=1.2, b32=30.0)
    dynamic = _measured("dynamic", 0.90, b1=5.0, b32=80.0)
    choice = choose(FP32_TIMES, [static, dynamic], max_drop=1.0, min_speedup=1.05)
    assert choice.kept == "static"
    assert choice.reason.startswith(
        "kept static INT8: 5.00× at batch 1, 3.33× at batch 32 faster than FP32, val accuracy -0.50"
    )
    assert "dynamic: 1.20× at batch 1, 1.25× at batch 32" in choice.reason


def test_auto_keeps_fp32_when_int8_is_slower_anywhere_or_too_inaccurate() -> None:
    faster_at_one_only = _measured("static", 0.90, b1=3.0, b32=101.0)
    inaccurate = _measured("dynamic", 0.85, b1=1.0, b32=10.0)
    choice = choose(FP32_TIMES, [faster_at_one_only, inaccurate], max_drop=1.0, min_speedup=1.05)
    assert choice.kept == "fp32"
    assert choice.reason.startswith(
        "kept FP32: no INT8 candidate was 1.05× faster at every batch size with at most 1 "
        "val accuracy point lost (static: 2.00× at batch 1, 0.99× at batch 32, val accuracy "
        "+0.00 points; dynamic: 6.00× at batch 1, 10.00× at batch 32, val accuracy -5.00 points)"
    )
    # Within noise of FP32 is not faster: the margin keeps it.
    close = _measured("static", 0.90, b1=5.8, b32=97.0)
    assert choose(FP32_TIMES, [close], max_drop=None, min_speedup=1.05).kept == "fp32"
    assert choose(FP32_TIMES, [close], max_drop=None, min_speedup=1.0).kept == "static"


def test_auto_ignores_a_candidate_that_was_not_built() -> None:
    broken = Candidate("static", error="static quantization of a.onnx failed: boom")
    dynamic = _measured("dynamic", 0.90, b1=3.0, b32=50.0)
    choice = choose(FP32_TIMES, [broken, dynamic], max_drop=1.0, min_speedup=1.05)
    assert choice.kept == "dynamic"
    assert "(static: not built (static quantization of a.onnx failed: boom))" in choice.reason


def _fake_timing(p50: dict[str, float]):
    """A stand-in for time_candidates: each candidate's p50 at every batch, from ``p50``."""

    def fake(candidates, inputs, *, threads, seconds):
        assert threads == 1 and set(inputs) == {1, 4}
        assert all(batch.shape[1:] == (1, 16, 16) for batch in inputs.values())
        for candidate in candidates:
            candidate.p50_ms = {b: p50[candidate.name] for b in inputs}

    return fake


def test_auto_publishes_the_fp32_graph_under_the_int8_name_when_int8_loses(
    tmp_path, files, monkeypatch
) -> None:
    slow = _fake_timing({"fp32": 1.0, "static": 1.5, "dynamic": 3.0})
    monkeypatch.setattr(quantize_auto, "time_candidates", slow)
    options = QuantizeOptions(calibration_batches=2, auto_batches=[1, 4])
    console = io.StringIO()
    ctx = _context(tmp_path, files, options, ["cnn.onnx"], console=console)
    QuantizeStage(options).run(ctx)

    logged = ctx.run.metrics["quantize"]["files"]["cnn.int8.onnx"]
    assert logged["mode"] == "auto" and logged["kept"] == "fp32"
    assert logged["reason"].startswith("kept FP32: no INT8 candidate was 1.05× faster")
    assert logged["size_ratio"] == 1.0 and logged["quantized_ops"] == {}
    assert logged["int8_accuracy"] == logged["fp32_accuracy"]
    target = tmp_path / "cnn.int8.onnx"
    assert target.read_bytes() == files["cnn.onnx"].path.read_bytes()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cnn.int8.onnx"]
    artifact = ctx.run.artifacts["cnn.int8.onnx"]
    assert artifact.meta["precision"] == "fp32" and artifact.meta["quantization"] == "fp32"
    assert artifact.meta["quantized_from"] == "cnn.onnx"
    candidates = logged["candidates"]
    assert list(candidates) == ["fp32", "static", "dynamic"]
    assert candidates["static"]["speedup"] == {"1": pytest.approx(2 / 3), "4": pytest.approx(2 / 3)}
    assert candidates["static"]["per_channel"] and candidates["static"]["activations"] == "uint8"
    assert (
        candidates["static"]["kept_fp32"]
        and "ConvInteger" in (candidates["dynamic"]["quantized_ops"])
    )
    assert candidates["static"]["file_bytes"] < candidates["fp32"]["file_bytes"]
    (line,) = [x for x in console.getvalue().splitlines() if x.startswith("quantize:")]
    assert line.startswith("quantize: cnn.int8.onnx kept FP32: no INT8 candidate")


def test_auto_publishes_the_fastest_int8_file(tmp_path, files, monkeypatch) -> None:
    fast = _fake_timing({"fp32": 1.0, "static": 0.5, "dynamic": 0.8})
    monkeypatch.setattr(quantize_auto, "time_candidates", fast)
    options = QuantizeOptions(calibration_batches=2, auto_batches=[4, 1])
    ctx = _context(tmp_path, files, options, ["cnn.onnx"])
    QuantizeStage(options).run(ctx)

    logged = ctx.run.metrics["quantize"]["files"]["cnn.int8.onnx"]
    assert logged["kept"] == "static" and logged["calibration_samples"] == 32
    assert logged["val_int8_accuracy"] == logged["candidates"]["static"]["val_accuracy"]
    assert _qdq_weights(tmp_path / "cnn.int8.onnx")  # the static file, not a copy of FP32
    assert logged["file_bytes"] == logged["candidates"]["static"]["file_bytes"]
    artifact = ctx.run.artifacts["cnn.int8.onnx"]
    assert artifact.meta["precision"] == "int8" and artifact.meta["quantization"] == "static"


def test_auto_times_every_candidate_for_real(tmp_path, files) -> None:
    options = QuantizeOptions(calibration_batches=2, auto_batches=[1, 8], auto_seconds=0.03)
    ctx = _context(tmp_path, files, options, ["student.onnx"])
    QuantizeStage(options).run(ctx)

    logged = ctx.run.metrics["quantize"]["files"]["student.int8.onnx"]
    candidates = logged["candidates"]
    for figures in candidates.values():
        assert set(figures["p50_ms"]) == {"1", "8"} and min(figures["p50_ms"].values()) > 0
    fp32 = candidates["fp32"]["p50_ms"]
    faster = [
        name
        for name in ("static", "dynamic")
        if all(fp32[b] / candidates[name]["p50_ms"][b] >= 1.05 for b in fp32)
        and -candidates[name]["val_accuracy_delta_points"] <= 1.0
    ]
    # Whatever this machine measured, the kept file follows the rule.
    assert (logged["kept"] in faster) if faster else (logged["kept"] == "fp32")


def test_auto_fails_clearly_when_no_candidate_can_be_built(tmp_path, files) -> None:
    options = QuantizeOptions(calibration_batches=1)
    ctx = _context(tmp_path, files, options, ["relu.onnx"])
    with pytest.raises(StageFailure, match=r"no INT8 candidate of relu.onnx could be built "):
        QuantizeStage(options).run(ctx)
    assert list(tmp_path.iterdir()) == []


def test_auto_allows_one_accuracy_point_unless_told_otherwise() -> None:
    assert QuantizeOptions().mode == "auto"
    assert QuantizeOptions().accuracy_limit == 1.0
    assert QuantizeOptions(max_accuracy_drop=0.2).accuracy_limit == 0.2
    assert QuantizeOptions(mode="static").accuracy_limit is None


def test_a_benchmark_after_auto_kept_fp32_reports_kept_fp32(tmp_path, files, monkeypatch) -> None:
    from compressor_stages.benchmark import BenchmarkStage
    from compressor_stages.options import BenchmarkOptions

    from compressor.report.markdown import render

    slow = _fake_timing({"fp32": 1.0, "static": 2.0, "dynamic": 2.0})
    monkeypatch.setattr(quantize_auto, "time_candidates", slow)
    options = QuantizeOptions(calibration_batches=1, auto_batches=[1, 4])
    ctx = _context(tmp_path, files, options, ["cnn.onnx"])
    QuantizeStage(options).run(ctx)
    bench = BenchmarkOptions(
        batch_sizes=[1, 2], threads=[1], warmup=1, repeat=2, min_seconds=0.0, limits=False
    )
    info = StageInfo(
        name="benchmark",
        type="benchmark",
        index=5,
        options=bench,
        inputs={"models": ["cnn.onnx", "cnn.int8.onnx"]},
        outputs={},
    )
    BenchmarkStage(bench).run(StageContext(ctx.run, info))

    stages = {name: {"type": name, **m} for name, m in ctx.run.metrics.items()}
    text = render({"stages": stages})
    assert "`cnn.int8.onnx` vs `cnn.onnx` (FP32): **kept FP32**: the quantize stage" in text
    assert "`cnn.int8.onnx` (auto): kept FP32: no INT8 candidate was 1.05× faster" in text
    assert "INT8 is slower than FP32 here" not in text


def test_auto_keeps_the_stage_contract(tmp_path, files) -> None:
    from compressor.testing import check_stage

    result = check_stage(
        "quantize",
        {"calibration_batches": 1, "auto_seconds": 0.02},
        inputs={"models": [files["cnn.onnx"]]},
        data=_bundle(16),
        run_dir=tmp_path,
    )
    assert result.published == ["cnn.int8.onnx"]
    logged = result.metrics["files"]["cnn.int8.onnx"]
    assert logged["kept"] in {"fp32", "static", "dynamic"} and logged["reason"]
