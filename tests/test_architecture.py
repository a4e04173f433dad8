"""The house stays readable: no import cycles, the layers of ARCHITECTURE.md, small modules.

Imports inside ``if TYPE_CHECKING:`` blocks are type hints only and do not count. The import
graph comes from grimp (import-linter's engine), which reads the source without importing it.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import grimp
import pytest

ROOT = Path(__file__).resolve().parents[1]
#: The house limit on a module's length; ARCHITECTURE.md and the developers' guide name it.
MAX_MODULE_LINES = 400
#: Above this a function must say in its docstring why it is one piece.
MAX_FUNCTION_LINES = 80


def _graph() -> dict[str, set[str]]:
    graph = grimp.build_graph("compressor", exclude_type_checking_imports=True)
    return {
        module: {m for m in graph.find_modules_directly_imported_by(module) if m != module}
        for module in graph.modules
    }


def import_cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected groups of more than one module (Tarjan's algorithm)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    groups: list[list[str]] = []

    def visit(module: str) -> None:
        index[module] = low[module] = len(index)
        stack.append(module)
        on_stack.add(module)
        for imported in sorted(edges.get(module, ())):
            if imported not in index:
                visit(imported)
                low[module] = min(low[module], low[imported])
            elif imported in on_stack:
                low[module] = min(low[module], index[imported])
        if low[module] == index[module]:
            group = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                group.append(member)
                if member == module:
                    break
            if len(group) > 1:
                groups.append(sorted(group))

    for module in sorted(edges):
        if module not in index:
            visit(module)
    return groups


def test_the_cycle_finder_finds_a_cycle() -> None:
    edges = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert import_cycles(edges) == [["a", "b", "c"]]
    assert import_cycles({"a": {"b"}, "b": set()}) == []


def test_no_module_of_compressor_imports_another_in_a_cycle() -> None:
    graph = _graph()
    assert len(graph) > 50, "grimp found too few modules: is compressor importable?"
    cycles = import_cycles(graph)
    assert not cycles, f"import cycles (type-only imports aside): {cycles}"


def test_the_import_linter_contracts_hold() -> None:
    # The contracts in pyproject.toml: the layers of ARCHITECTURE.md and the SDK's independence.
    result = subprocess.run(
        [sys.executable, "-m", "importlinter.cli", "--no-cache"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]


def _python_files() -> list[Path]:
    return sorted(
        [*ROOT.joinpath("compressor").rglob("*.py"), *ROOT.joinpath("plugins").rglob("*.py")]
    )


@pytest.mark.parametrize("path", _python_files(), ids=lambda p: str(p.relative_to(ROOT)))
def test_modules_are_small(path: Path) -> None:
    lines = len(path.read_text(encoding="utf-8").splitlines())
    assert lines <= MAX_MODULE_LINES, (
        f"{path.relative_to(ROOT)} has {lines} lines; split it by concept (the limit is "
        f"{MAX_MODULE_LINES})"
    )


@pytest.mark.parametrize("path", _python_files(), ids=lambda p: str(p.relative_to(ROOT)))
def test_long_functions_say_why(path: Path) -> None:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    for node in ast.walk(tree):
        if not isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            continue
        length = (node.end_lineno or node.lineno) - node.lineno + 1
        docstring = ast.get_docstring(node) or ""
        assert length <= MAX_FUNCTION_LINES or "one piece" in docstring, (
            f"{path.relative_to(ROOT)}:{node.lineno} {node.name} has {length} lines; split it, "
            "or say in its docstring why it is one piece"
        )
