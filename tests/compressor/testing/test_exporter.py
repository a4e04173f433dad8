"""check_exporter: passes on the ONNX exporter and fails, clearly, on broken exporters."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import torch
from torch import nn

from compressor.atomic import atomic_path
from compressor.testing import check_exporter

# The legacy exporter keeps the ONNX check fast; its deprecation notice is expected.
pytestmark = pytest.mark.filterwarnings(
    "ignore:You are using the legacy TorchScript:DeprecationWarning"
)


def test_onnx_exporter_passes(tmp_path: Path) -> None:
    facts = check_exporter("onnx", {"dynamo": "off", "opset": 17}, directory=tmp_path)
    assert facts["exporter"] == "onnx" and (tmp_path / "model.onnx").is_file()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model.onnx"]


class DirectWriter:
    def export(self, model: nn.Module, example: torch.Tensor, path: Path) -> dict:
        path.write_text("{}")
        return {}


class LeavesHalfAFile:
    def export(self, model: nn.Module, example: torch.Tensor, path: Path) -> dict:
        tmp = path.with_name(path.name + ".part")
        with tmp.open("w") as f:
            f.write("[")
            model(example)  # raises for check_exporter's failing model, leaving the .part file
            f.write("]")
        tmp.replace(path)
        return {}


class ReturnsNothing:
    def export(self, model: nn.Module, example: torch.Tensor, path: Path) -> None:
        with atomic_path(path) as tmp:
            tmp.write_text("[]")


class ModifiesTheModel:
    def export(self, model: nn.Module, example: torch.Tensor, path: Path) -> dict:
        model.train()
        with atomic_path(path) as tmp:
            tmp.write_text("[]")
        return {}


class AppendsItsOwnSuffix:
    # numpy.savez adds .npz to a path that lacks it: the data lands beside atomic_path's file.
    def export(self, model: nn.Module, example: torch.Tensor, path: Path) -> dict:
        with atomic_path(path) as tmp:
            tmp.with_name(tmp.name + ".json").write_text("[]")
        return {}


@pytest.mark.parametrize(
    ("exporter", "message"),
    [
        (DirectWriter(), "opened the destination model.json for writing"),
        (AppendsItsOwnSuffix(), r"wrote \.model\.json\..*\.tmp\.json beside the temporary file"),
        (LeavesHalfAFile(), "failed .* but left failing.json.part behind"),
        (ReturnsNothing(), "must return a dict"),
        (ModifiesTheModel(), "modified the model it exported"),
    ],
)
def test_broken_exporters_fail_with_a_clear_message(
    tmp_path: Path, exporter: Any, message: str
) -> None:
    with pytest.raises(AssertionError, match=message):
        check_exporter(exporter, suffix=".json", directory=tmp_path)


def test_unloadable_file_fails(tmp_path: Path) -> None:
    class NotJson:
        def export(self, model: nn.Module, example: torch.Tensor, path: Path) -> dict:
            with atomic_path(path) as tmp:
                tmp.write_text("not json")
            return {}

    with pytest.raises(AssertionError, match="model.json does not load"):
        check_exporter(NotJson(), suffix=".json", directory=tmp_path)


class NeedsContext:
    """An exporter that reads the context the export stage passes, as a new exporter may."""

    def __init__(self) -> None:
        self.seen: list[Any] = []

    def export(self, model: nn.Module, example: torch.Tensor, path: Path, *, context) -> dict:
        self.seen.append(context)
        with atomic_path(path) as tmp:
            tmp.write_text(json.dumps({"shape": list(context.input_shape)}))
        return {"exporter": "needs_context"}


def test_the_export_context_is_passed_as_the_export_stage_passes_it(tmp_path: Path) -> None:
    from compressor.export_context import ExportContext

    exporter = NeedsContext()
    check_exporter(exporter, suffix=".json", directory=tmp_path / "a", check_failure=False)
    (seen,) = exporter.seen
    assert seen.input_shape == (1, 8, 8) and seen.mean == (0.0,) and seen.artifact == "model"
    given = ExportContext(input_shape=(1, 8, 8), class_names=tuple("abcd"))
    check_exporter(exporter, suffix=".json", directory=tmp_path / "b", context=given)
    assert exporter.seen[1:] == [given, given]  # the good export and the failing one
