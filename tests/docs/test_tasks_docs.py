"""docs/plugins/tasks.md works as printed: its third-party multi-label task, loss and dataset,
written to a package from the page's code, run a recipe end to end and pass check_task."""

from __future__ import annotations

import importlib
import re
import sys
from pathlib import Path

import pytest
import yaml

from compressor.records import TaskPlugin
from compressor.testing import check_task, run_tiny_recipe

PAGE = Path(__file__).resolve().parents[2] / "docs" / "plugins" / "tasks.md"
TEXT = PAGE.read_text(encoding="utf-8")
FILES = re.findall(r"```python\n# (my_multilabel/\S+)\n(.*?)```", TEXT, re.DOTALL)


@pytest.fixture(scope="module")
def package(tmp_path_factory: pytest.TempPathFactory):
    root = tmp_path_factory.mktemp("docs_task")
    for relative, code in FILES:
        path = root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(code, encoding="utf-8")
    sys.path.insert(0, str(root))
    try:
        yield importlib.import_module("my_multilabel")
    finally:
        sys.path.remove(str(root))
        for name in [n for n in sys.modules if n.startswith("my_multilabel")]:
            del sys.modules[name]


def test_the_page_writes_the_whole_package() -> None:
    assert {name for name, _ in FILES} == {
        "my_multilabel/task.py",
        "my_multilabel/parts.py",
        "my_multilabel/__init__.py",
    }


def test_the_recipe_trains_exports_and_benchmarks_in_micro_f1(package, tmp_path) -> None:
    recipe = yaml.safe_load(TEXT.split("```yaml\n", 1)[1].split("```", 1)[0])
    run = run_tiny_recipe(
        recipe["stages"], plugins=[package], data=recipe["data"], tmp_path=tmp_path
    )
    stages = run.metrics["stages"]
    assert run.metrics["task"]["metric"] == {
        "key": "f1",
        "label": "micro F1",
        "higher_is_better": True,
    }
    resolved = yaml.safe_load((run.run_dir / "recipe.yaml").read_text(encoding="utf-8"))
    assert [term["name"] for term in resolved["stages"][0]["losses"]] == ["bce"]
    assert stages["model"]["test_f1"] > 0.8  # four bright quadrants are easy
    figures = stages["benchmark"]["models"]["model.onnx"]
    assert figures["f1"] == pytest.approx(stages["model"]["test_f1"], abs=1e-6)
    report = (run.run_dir / "report.md").read_text(encoding="utf-8")
    assert "micro F1 (onnxruntime)" in report


def test_a_class_logit_loss_is_refused_in_one_line(package, tmp_path) -> None:
    recipe = yaml.safe_load(TEXT.split("```yaml\n", 1)[1].split("```", 1)[0])
    stages = [dict(recipe["stages"][0], losses=[{"name": "ce"}])]
    with pytest.raises(AssertionError) as caught:
        run_tiny_recipe(stages, plugins=[package], data=recipe["data"], tmp_path=tmp_path)
    quoted = TEXT.split("```\nerror: ", 1)[1].split("\n", 1)[0].split(": ", 1)[1]
    assert quoted in str(caught.value)


def test_check_task_passes(package) -> None:
    block = TEXT.split("```python\nfrom compressor.testing import check_task", 1)[1]
    code = "from compressor.testing import check_task" + block.split("```", 1)[0]
    namespace: dict[str, object] = {}
    exec(code, namespace)  # noqa: S102 - the page's own test, run as printed
    parts = importlib.import_module("my_multilabel.parts")
    task = importlib.import_module("my_multilabel.task")
    namespace["squares"] = parts.squares
    # Installed, the name finds the record through the entry points; here, the record is given.
    record = TaskPlugin(name="multilabel", factory=task.MultiLabel)
    namespace["check_task"] = lambda name, **kwargs: check_task(record, **kwargs)
    namespace["test_multilabel_task"]()  # type: ignore[operator]
