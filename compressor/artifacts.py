"""Artifacts: what stages produce and consume (trained models, exported files).

A stage declares its input and output slots; the recipe fills them with artifact names
(``teacher``, ``student``, ``student.onnx``); the pipeline hands each stage its inputs and
stores what it publishes.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


@dataclass
class Artifact:
    """Base class: a named thing a stage produced.

    Attributes:
        name: The artifact's name in the recipe.
        producer: Name of the stage that produced it.
        meta: Facts about it (parameters, MACs, parity figures, ...) shown in the report.
    """

    name: str
    producer: str = ""
    meta: dict[str, Any] = field(default_factory=dict)


@dataclass
class ModelArtifact(Artifact):
    """A PyTorch model in memory, with how to rebuild it and where its checkpoint is.

    Attributes:
        model: The ``torch.nn.Module`` (on the run's device, in eval mode between stages).
        spec: The model reference it was built from (``{"name": ..., "options": ...}``).
        path: The checkpoint in the run folder, once saved.
    """

    model: Any = None
    spec: dict[str, Any] = field(default_factory=dict)
    path: Path | None = None


@dataclass
class FileArtifact(Artifact):
    """A file in the run folder, e.g. an exported ``.onnx``.

    Attributes:
        path: Where the file is.
        format: What the file is (``onnx``, ``torchscript``, ...).
        source: The artifact it was made from (``student`` for ``student.onnx``).
    """

    path: Path = Path()
    format: str = ""
    source: str = ""
