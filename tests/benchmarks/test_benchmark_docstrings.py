"""Every benchmark says what it compares: its docstring names its arms and what differs."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

BENCHMARKS = Path(__file__).resolve().parents[2] / "benchmarks"


@pytest.mark.parametrize("script", sorted(p.name for p in BENCHMARKS.glob("*.py")))
def test_the_docstring_names_the_arms_and_what_differs(script: str) -> None:
    text = ast.get_docstring(ast.parse((BENCHMARKS / script).read_text(encoding="utf-8"))) or ""
    assert "Arms" in text or "arms" in text, f"{script}: no arms named"
    assert "differ" in text, f"{script}: does not say what differs between its arms"
