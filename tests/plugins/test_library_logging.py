"""The stages and exporters quieten onnxruntime, torch.onnx and matplotlib without changing the
process's logging or matplotlib backend: compressor can run in a notebook or another program."""

from __future__ import annotations

import logging

import pytest
from compressor_exporters import OnnxOptions
from compressor_exporters.onnx_exporter import OnnxExporter
from compressor_exporters.torch_onnx import quiet_export

from compressor.artifacts import FileArtifact
from compressor.export_context import ExportContext
from compressor.testing import check_stage, tiny_data_bundle, tiny_mlp
from tests.root_logger import bare_root_logger, state_after

pytestmark = pytest.mark.filterwarnings(
    "ignore:You are using the legacy TorchScript:DeprecationWarning"
)


def _exported(tmp_path, bundle) -> FileArtifact:
    path = tmp_path / "student.onnx"
    context = ExportContext(mean=bundle.mean, std=bundle.std)
    model = tiny_mlp().eval()
    OnnxExporter(OnnxOptions(dynamo="off")).export(model, bundle.test.x[:8], path, context=context)
    return FileArtifact(name="student.onnx", path=path, format="onnx", source="student")


@pytest.mark.parametrize("mode", ["dynamic", "static"])
def test_a_quantize_run_leaves_the_root_logger_as_it_was(tmp_path, mode) -> None:
    bundle = tiny_data_bundle()
    (tmp_path / "in").mkdir()
    source = _exported(tmp_path / "in", bundle)
    with bare_root_logger() as root:
        result = check_stage(
            "quantize",
            {"mode": mode, "calibration_batches": 1},
            inputs={"models": [source]},
            data=bundle,
            run_dir=tmp_path / "run",
        )
        # onnxruntime's logging.info()/warning() would have called basicConfig() on it.
        assert root.handlers == [] and root.level == logging.WARNING and not root.filters
    assert result.published == ["student.int8.onnx"]


def test_export_restores_the_torch_loggers_but_not_over_a_later_change() -> None:
    onnx_logger, dynamo = logging.getLogger("torch.onnx"), logging.getLogger("torch._dynamo")
    saved = onnx_logger.level, dynamo.level
    try:
        onnx_logger.setLevel(logging.INFO)
        dynamo.setLevel(logging.NOTSET)
        with quiet_export([]):
            assert onnx_logger.level == dynamo.level == logging.ERROR
            dynamo.setLevel(logging.DEBUG)  # e.g. torch._logging.set_logs(dynamo=DEBUG)
        assert onnx_logger.level == logging.INFO
        assert dynamo.level == logging.DEBUG  # the change made meanwhile stands
    finally:
        onnx_logger.setLevel(saved[0])
        dynamo.setLevel(saved[1])


def test_the_sensitivity_plot_leaves_the_matplotlib_backend_alone(tmp_path) -> None:
    left = state_after(
        f"""
        from compressor.testing import check_stage, tiny_mlp
        check_stage("sensitivity", {{"ratios": [0.5]}}, inputs={{"model": tiny_mlp()}},
                    run_dir={str(tmp_path)!r})
        """
    )
    assert left == {"pyplot": False, "backend": "svg", "root": [logging.WARNING, 0]}
    assert (tmp_path / "check.png").read_bytes()[:4] == b"\x89PNG"
