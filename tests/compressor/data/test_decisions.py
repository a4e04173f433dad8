"""The split a decision reads: validation; the test split only with a named, logged override.

Also the rule kept by a scan of the source: the test split is read only where a figure of what
was already chosen is measured, at the sites listed below with their reason. A new reading
fails here, naming its place: a choice goes through ``decision_split`` instead.
"""

from __future__ import annotations

import ast
import logging
from pathlib import Path

import pytest
import torch

from compressor.data import ChoiceOnTestSplit, DataBundle, Split, decision_split

ROOT = Path(__file__).resolve().parents[3]

#: Every place that reads the test split (``.test`` or ``example_inputs``), and why it may.
TEST_READS = {
    ("compressor/data/bundle.py", "example_inputs"): "defines it",
    ("compressor/data/bundle.py", "describe"): "counts the rows",
    ("plugins/compressor_stages/model_output.py", "publish_model"): "measures test_accuracy",
    ("plugins/compressor_stages/load.py", "run"): "measures test_accuracy",
    ("plugins/compressor_stages/quantize.py", "_quantize_and_measure"): "scores what was chosen",
    (
        "plugins/compressor_stages/distill_transfer.py",
        "_whole",
    ): "transfer rows, checked for overlap",
    ("plugins/compressor_stages/export.py", "run"): "inputs to trace and check parity on",
    ("plugins/compressor_stages/prune.py", "run"): "inputs to trace the dependency graph",
    ("plugins/compressor_stages/sensitivity.py", "_point"): "inputs to trace the graph",
}


def _bundle() -> DataBundle:
    def split(n: int) -> Split:
        return Split(torch.zeros(n, 1, 2, 2), torch.zeros(n, dtype=torch.long))

    return DataBundle(name="d", train=split(3), val=split(2), test=split(5), num_classes=1)


def test_decisions_read_validation_by_default_and_train_when_asked() -> None:
    data = _bundle()
    assert decision_split(data, decides="x") is data.val
    assert decision_split(data, "train", decides="x") is data.train
    with pytest.raises(ValueError, match="not the split 'all'"):
        decision_split(data, "all", decides="x")


def test_the_test_split_needs_a_named_override_and_is_logged(caplog) -> None:
    data = _bundle()
    with pytest.raises(ChoiceOnTestSplit, match="quantize: the INT8 file would be chosen on the"):
        decision_split(data, "test", decides="quantize: the INT8 file")
    with caplog.at_level(logging.WARNING, logger="compressor"):
        chosen = decision_split(
            data, "test", decides="quantize: the INT8 file", override="stages.q.split: test"
        )
    assert chosen is data.test
    assert "quantize: the INT8 file is chosen on the test split (stages.q.split: test)" in (
        caplog.text
    )


def _test_reads(path: Path) -> set[tuple[str, str]]:
    """(file, enclosing function) of every ``.test`` and ``example_inputs`` in ``path``."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found = set()
    for function in ast.walk(tree):
        if not isinstance(function, ast.FunctionDef | ast.AsyncFunctionDef):
            continue
        for node in ast.walk(function):
            if isinstance(node, ast.Attribute) and node.attr in ("test", "example_inputs"):
                found.add((path.relative_to(ROOT).as_posix(), function.name))
    return found


def test_the_test_split_is_read_only_where_chosen_things_are_measured() -> None:
    sources = [
        *(ROOT / "compressor").rglob("*.py"),
        *(ROOT / "plugins" / "compressor_stages").rglob("*.py"),
    ]
    reads: set[tuple[str, str]] = set()
    for path in sources:
        if "testing" not in path.parts:
            reads |= _test_reads(path)
    unlisted = sorted(reads - set(TEST_READS))
    assert not unlisted, (
        f"these read the test split: {unlisted}; a choice reads compressor.data.decision_split "
        "(validation); a measurement of what was chosen is listed in TEST_READS with its reason"
    )
