"""The benchmark and quantize stages refuse inputs that are not ONNX files, saying how to make one."""

from __future__ import annotations

from pathlib import Path

import pytest
from compressor_stages.onnx_inputs import require_onnx_files

from compressor.artifacts import FileArtifact, ModelArtifact
from compressor.errors import UsageError
from compressor.testing import check_stage, tiny_mlp


def test_onnx_files_pass_and_come_back_in_order(tmp_path: Path) -> None:
    files = [FileArtifact(name=f"{n}.onnx", path=tmp_path / n, format="onnx") for n in "ab"]
    assert require_onnx_files(files, "x takes") == files


@pytest.mark.parametrize(
    ("artifact", "kind"),
    [
        (ModelArtifact(name="student", model=None), "ModelArtifact"),
        (
            FileArtifact(name="student.pt", path=Path("student.pt"), format="torchscript"),
            "torchscript",
        ),
    ],
)
def test_anything_else_is_named_with_what_it_is(artifact, kind: str) -> None:
    with pytest.raises(UsageError) as error:
        require_onnx_files([artifact], "quantize takes")
    assert str(error.value) == (
        f"quantize takes ONNX files, but {artifact.name!r} is {kind}; export it first (an export "
        "stage with exporter onnx)"
    )


@pytest.mark.parametrize(("stage", "words"), [("quantize", "takes"), ("benchmark", "measures")])
def test_the_stages_refuse_a_model(stage: str, words: str) -> None:
    with pytest.raises(AssertionError, match=f"{stage} {words} ONNX files, but 'models' is"):
        check_stage(stage, inputs={"models": [tiny_mlp()]})
