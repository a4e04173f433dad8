"""``compressor bench``: any ONNX file by itself, with clear one-line errors for bad input."""

from __future__ import annotations

import json
import random

import onnx
import pytest
import torch
from torch import nn

from compressor import cli

pytestmark = pytest.mark.filterwarnings(
    "ignore:You are using the legacy TorchScript:DeprecationWarning"
)

FAST = ["--warmup", "1", "--repeat", "3", "--min-seconds", "0"]


def _export(path, side: int):
    model = nn.Sequential(nn.Flatten(), nn.Linear(side * side, 10)).eval()
    torch.onnx.export(
        model,
        (torch.randn(2, 1, side, side),),
        str(path),
        dynamo=False,
        input_names=["input"],
        output_names=["logits"],
        dynamic_axes={"input": {0: "batch"}, "logits": {0: "batch"}},
    )
    return path


def _damaged(path, damage):
    """A real ONNX file, then damaged: ``damage`` maps its bytes to the new content."""
    _export(path, 8)
    path.write_bytes(damage(path.read_bytes()))
    return path


def _unknown_operator(path):
    """A file that parses as ONNX but that onnxruntime cannot load."""
    proto = onnx.load(str(_export(path, 8)))
    proto.graph.node[0].op_type = "NoSuchOperator"
    onnx.save(proto, str(path))
    return path


@pytest.fixture(scope="module")
def digits_model(tmp_path_factory):
    return _export(tmp_path_factory.mktemp("bench") / "digits.onnx", 8)


def test_bench_on_a_dataset_prints_json(digits_model, capsys) -> None:
    code = cli.main(
        [
            "bench",
            str(digits_model),
            "--dataset",
            "digits",
            "--batch",
            "1,8",
            "--threads",
            "1",
            "--json",
            *FAST,
        ]
    )
    assert code == 0
    result = json.loads(capsys.readouterr().out)
    assert 0.0 <= result["accuracy"] <= 1.0 and result["dataset"] == "digits"
    assert [(g["threads"], g["batch"]) for g in result["grid"]] == [(1, 1), (1, 8)]
    assert result["params"] == 650 and result["macs"] == 640
    assert set(result["limits"]) == {"1"} and result["vs_limits"]["latency_vs_floor"] > 0


def test_bench_without_a_dataset_times_random_inputs(digits_model, capsys) -> None:
    assert cli.main(["bench", str(digits_model), "--batch", "4", *FAST]) == 0
    out = capsys.readouterr().out
    assert "accuracy: —" in out and "per-call floor" in out


@pytest.mark.parametrize(
    ("make", "args", "message"),
    [
        (lambda d: d / "missing.onnx", [], "missing.onnx: no such ONNX file"),
        (
            lambda d: (d / "broken.onnx").write_bytes(b"\x08garbage" * 20) and d / "broken.onnx",
            [],
            "broken.onnx: not a readable ONNX model",
        ),
        (
            lambda d: _damaged(
                d / "random.onnx", lambda data: bytes(random.Random(0).randbytes(len(data)))
            ),
            [],
            "random.onnx: not a readable ONNX model",
        ),
        (
            lambda d: _damaged(d / "cut.onnx", lambda data: data[: len(data) // 2]),
            ["--dataset", "digits"],
            "cut.onnx: not a readable ONNX model",
        ),
        (
            lambda d: _unknown_operator(d / "bogus.onnx"),
            ["--dataset", "digits"],
            "bogus.onnx: onnxruntime cannot run this model",
        ),
        (
            lambda d: _export(d / "mnist_shaped.onnx", 28),
            ["--dataset", "digits"],
            (
                "mnist_shaped.onnx takes inputs of shape [batch, 1, 28, 28] but dataset 'digits' "
                "has samples of shape [1, 8, 8]"
            ),
        ),
        (lambda d: d / "any.onnx", ["--batch", "1,x"], "--batch '1,x': expected positive integers"),
        (lambda d: d / "any.onnx", ["--batch", "²"], "--batch '²': expected positive integers"),
        (
            lambda d: _export(d / "m.onnx", 8),
            ["--dataset", "digitz"],
            "unknown dataset 'digitz'; did you mean 'digits'?",
        ),
    ],
    ids=[
        "missing",
        "broken",
        "random-bytes",
        "truncated",
        "unknown-operator",
        "shape",
        "batch",
        "superscript-batch",
        "dataset",
    ],
)
def test_bad_input_is_one_line_and_exit_2(tmp_path, capsys, make, args, message) -> None:
    path = make(tmp_path)
    assert cli.main(["bench", str(path), *args, *FAST]) == 2
    err = capsys.readouterr().err.strip()
    assert (
        err.startswith("error: ") and message in err and "\n" not in err and "Traceback" not in err
    )
