"""Every import path the docs name works, and so does every path plugins used before the layout.

The docs are scanned for ``from compressor... import ...`` lines and for backticked dotted names
(``compressor.testing.check_loss``); each must import. The second list pins the paths
docs/plugins/ named before compressor/ was split into packages: a plugin written against them
must keep working.
"""

from __future__ import annotations

import importlib
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PAGES = sorted(
    [*ROOT.joinpath("docs").rglob("*.md"), ROOT / "README.md", ROOT / "ARCHITECTURE.md"]
    + list(ROOT.joinpath("examples").glob("*/README.md"))
)
FROM_IMPORT = re.compile(
    r"^\s*from (compressor(?:\.\w+)*) import \(?([\w, \n]+?)\)?$", re.MULTILINE
)
# File names such as `compressor.json` (an ONNX metadata key) are not import paths.
DOTTED = re.compile(r"`(compressor(?:\.\w+)+)(?<!\.json)(?<!\.yaml)(?<!\.onnx)(?:\(\))?`")

#: What docs/plugins/ told plugin authors to import before the layout split (0.1).
PATHS_BEFORE_THE_LAYOUT = [
    "compressor.hookimpl",
    "compressor.NAME",
    "compressor.records.LossPlugin",
    "compressor.records.PrunerPlugin",
    "compressor.records.ExporterPlugin",
    "compressor.records.DatasetPlugin",
    "compressor.records.ModelPlugin",
    "compressor.records.StagePlugin",
    "compressor.records.Role",
    "compressor.records.NoOptions",
    "compressor.schemas.StrictModel",
    "compressor.schemas.LossTerm",
    "compressor.schemas.ModelRef",
    "compressor.artifacts.FileArtifact",
    "compressor.artifacts.ModelArtifact",
    "compressor.atomic.atomic_path",
    "compressor.atomic.write_text",
    "compressor.atomic.write_json",
    "compressor.context.StageContext",
    "compressor.context.StageInfo",
    "compressor.context.RunContext",
    "compressor.data.DataBundle",
    "compressor.data.Split",
    "compressor.errors.RecipeError",
    "compressor.errors.StageFailure",
    "compressor.errors.UsageError",
    "compressor.export_context.ExportContext",
    "compressor.preflight.Preflight",
    "compressor.pruning.prune_model",
    "compressor.pruning.PruneSettings",
    "compressor.registry.Registry",
    "compressor.checkpoint.load_model",
    "compressor.checkpoint.save_model",
    "compressor.testing.check_loss",
    "compressor.testing.check_pruner",
    "compressor.testing.check_exporter",
    "compressor.testing.check_stage",
    "compressor.testing.StageCheckResult",
    "compressor.testing.tiny_cnn",
    "compressor.testing.tiny_mlp",
    "compressor.testing.tiny_data_bundle",
    "compressor.training.fit",
    "compressor.training.evaluate",
    "compressor.training.WeightedLoss",
    "compressor.recipe.load",
    "compressor.recipe.resolve",
    "compressor.recipe.AugmentConfig",
    "compressor.cli.main",
]


def _documented() -> list[str]:
    found: set[str] = set()
    for page in PAGES:
        if not page.exists():
            continue
        text = page.read_text(encoding="utf-8")
        for module, names in FROM_IMPORT.findall(text):
            for name in re.split(r"[,\s]+", names):
                if name:
                    found.add(f"{module}.{name}")
        found.update(DOTTED.findall(text))
    return sorted(found)


def _resolve(dotted: str) -> object:
    """Import the longest module prefix of ``dotted``, then look the rest up as attributes."""
    parts = dotted.split(".")
    for cut in range(len(parts), 0, -1):
        try:
            target: object = importlib.import_module(".".join(parts[:cut]))
        except ModuleNotFoundError:
            continue
        for attribute in parts[cut:]:
            target = getattr(target, attribute)
        return target
    raise ModuleNotFoundError(dotted)


def test_the_docs_name_import_paths() -> None:
    assert len(_documented()) > 20


@pytest.mark.parametrize("path", _documented())
def test_every_documented_path_imports(path: str) -> None:
    try:
        _resolve(path)
    except (ImportError, AttributeError) as error:
        pytest.fail(f"the docs name {path}, which does not import: {error}")


@pytest.mark.parametrize("path", PATHS_BEFORE_THE_LAYOUT)
def test_paths_from_before_the_layout_still_import(path: str) -> None:
    _resolve(path)
