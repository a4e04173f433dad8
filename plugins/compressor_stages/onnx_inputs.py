"""The check every stage that reads ONNX files makes of its inputs."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from compressor.artifacts import FileArtifact
from compressor.errors import UsageError


def require_onnx_files(artifacts: Sequence[Any], what: str) -> list[FileArtifact]:
    """``artifacts``, checked to be ONNX files.

    Args:
        artifacts: The stage's input artifacts.
        what: How the error starts, e.g. ``"quantize takes"``: "``what`` ONNX files, but ...".

    Raises:
        UsageError: The first input that is not an ONNX file, with how to make one.
    """
    files: list[FileArtifact] = []
    for artifact in artifacts:
        if not isinstance(artifact, FileArtifact) or artifact.format != "onnx":
            kind = getattr(artifact, "format", "") or type(artifact).__name__
            raise UsageError(
                f"{what} ONNX files, but {artifact.name!r} is {kind}; export it first (an export "
                "stage with exporter onnx)"
            )
        files.append(artifact)
    return files
