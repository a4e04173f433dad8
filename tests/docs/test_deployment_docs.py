"""docs/deployment.md stays true: its recipe fragments validate, its Python snippets run."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import torch
import yaml
from compressor_exporters import OnnxOptions, TorchExportOptions
from compressor_exporters.onnx_exporter import OnnxExporter
from compressor_exporters.torch_export_exporter import TorchExportExporter
from torch import nn

from compressor import recipe
from compressor.export_context import ExportContext
from compressor.recipe.shipped import recipes_dir

pytestmark = pytest.mark.filterwarnings(
    "ignore:You are using the legacy TorchScript:DeprecationWarning"
)

DOC = (Path(__file__).resolve().parents[2] / "docs" / "deployment.md").read_text(encoding="utf-8")
BLOCK = re.compile(r"```(\w*)\n(.*?)```", re.DOTALL)


def _blocks(language: str) -> list[str]:
    return [body for lang, body in BLOCK.findall(DOC) if lang == language]


def test_every_stage_fragment_validates(registry) -> None:
    fragments = [stage for body in _blocks("yaml") for stage in yaml.safe_load(body)]
    assert {f["type"] for f in fragments} == {"export", "quantize", "benchmark"}
    base = {
        "version": 1,
        "name": "docs",
        "data": {"dataset": "digits"},
        "stages": [
            {"name": name, "type": "train", "model": {"name": "seed_mlp"}}
            for name in ("teacher", "student")
        ],
    }
    base["stages"] += fragments
    plan = recipe.resolve(base, registry)
    assert [s.type for s in plan.stages][-1] == "benchmark"


def test_python_snippets_run(tmp_path, monkeypatch) -> None:
    torch.manual_seed(0)
    model = nn.Sequential(nn.Flatten(), nn.Linear(28 * 28, 10)).eval()
    x = torch.randn(8, 1, 28, 28)
    folder = tmp_path / "runs" / "deployment"
    context = ExportContext(mean=(0.13,), std=(0.31,), class_names=tuple("0123456789"))
    OnnxExporter(OnnxOptions(dynamo="off", embed_preprocessing=True, raw_input="uint8")).export(
        model, x, folder / "student.onnx", context=context
    )
    TorchExportExporter(TorchExportOptions()).export(model, x, folder / "student.pt2")
    monkeypatch.chdir(tmp_path)
    snippets = _blocks("python")
    assert len(snippets) == 2
    for snippet in snippets:
        # Running the documented code is the test: it is this repository's own docs.
        exec(compile(snippet, "docs/deployment.md", "exec"), {})  # noqa: S102


@pytest.mark.parametrize("name", ["deployment.yaml", "quickstart.yaml"])
def test_resolved_recipe_validates_again(registry, name) -> None:
    # recipe.yaml in a run folder spells every default out; re-running it must work.
    path = recipes_dir() / name
    plan = recipe.load(path, registry)
    again = recipe.resolve(plan.resolved(), registry)
    assert again.resolved() == plan.resolved()
