"""Reading a recipe file: YAML into a mapping, ``--set`` overrides, then resolving it."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from compressor.errors import RecipeError, UsageError
from compressor.recipe.overrides import apply_overrides
from compressor.recipe.resolve import resolve

if TYPE_CHECKING:
    from compressor.plan import Plan
    from compressor.plugin.registry import Registry


def read_recipe_file(path: str | Path) -> dict[str, Any]:
    """Read a recipe file into a mapping.

    Raises:
        UsageError: The file is missing or unreadable, is not valid YAML, or is not a mapping.
    """
    file = Path(path)
    try:
        text = file.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise UsageError(f"recipe file not found: {file}") from None
    except (IsADirectoryError, PermissionError, UnicodeDecodeError) as exc:
        raise UsageError(f"cannot read recipe {file}: {type(exc).__name__}") from None
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise UsageError(f"{file}: invalid YAML{where}: {problem}") from None
    if not isinstance(raw, dict):
        raise UsageError(
            f"{file}: a recipe must be a mapping with version, name, data and stages; "
            f"got {type(raw).__name__}"
        )
    return raw


def load(path: str | Path, registry: Registry, overrides: list[str] | None = None) -> Plan:
    """Read, override, validate and resolve a recipe file."""
    raw = apply_overrides(read_recipe_file(path), list(overrides or []))
    try:
        return resolve(raw, registry, source=str(path))
    except RecipeError as exc:
        raise exc.with_source(str(path)) from None
