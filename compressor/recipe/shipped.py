"""The recipes shipped inside the package (``compressor/recipes/*.yaml``), found by name.

They are package data, so ``compressor run quickstart`` works from an installed wheel as well
as from a checkout. A recipe argument is a file when such a file exists, else the name of a
shipped recipe (``quickstart`` or ``quickstart.yaml``; case, ``-`` and ``_`` as the registry
normalizes plugin names); anything else is one line naming the shipped recipes.
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib.resources import files
from pathlib import Path
from typing import Any

import yaml

from compressor.errors import UsageError, format_choices
from compressor.records import normalize_name

#: The suffix of a shipped recipe's file (pyproject.toml's package-data ships ``*.yaml``).
SUFFIX = ".yaml"


@dataclass(frozen=True)
class ShippedRecipe:
    """One recipe file shipped with compressor.

    Attributes:
        name: What ``compressor run NAME`` takes: the file's stem.
        path: The file, inside the installed package (or the checkout).
    """

    name: str
    path: Path

    def read(self) -> dict[str, Any]:
        """The recipe as a mapping (YAML only: nothing is validated against the plugins).

        Raises:
            UsageError: The file is not a YAML mapping (a shipped recipe never is; the tests
                load every one).
        """
        raw = yaml.safe_load(self.path.read_text(encoding="utf-8"))
        if not isinstance(raw, dict):
            raise UsageError(f"{self.path}: a shipped recipe must be a mapping")
        return raw


def recipes_dir() -> Path:
    """The folder the shipped recipes are in: ``recipes/`` inside the ``compressor`` package."""
    # A package installed from a wheel or a checkout is a folder, so this is a real path;
    # importlib.resources finds it wherever the package was imported from.
    return Path(str(files("compressor").joinpath("recipes")))


def shipped_recipes() -> list[ShippedRecipe]:
    """Every shipped recipe, sorted by name."""
    folder = recipes_dir()
    found = [p for p in folder.iterdir() if p.suffix == SUFFIX] if folder.is_dir() else []
    return sorted((ShippedRecipe(p.stem, p) for p in found), key=lambda r: r.name)


def find_shipped(text: str) -> ShippedRecipe | None:
    """The shipped recipe ``text`` names (``quickstart``, ``quickstart.yaml``), or ``None``.

    A text with a folder in it is a path, never a name.
    """
    if Path(text).name != text:
        return None
    wanted = normalize_name(_stem(text))
    return next((r for r in shipped_recipes() if normalize_name(r.name) == wanted), None)


def resolve_recipe_path(text: str) -> Path:
    """The recipe file that a ``RECIPE`` argument names: a file, else a shipped recipe.

    An existing file always wins, so a checkout's or a user's own file is never shadowed.

    Args:
        text: The argument as typed: a path, or a shipped recipe's name.

    Returns:
        The path of the recipe file.

    Raises:
        UsageError: No such file and no shipped recipe of that name; the message lists the
            shipped recipes, the closest first.
    """
    path = Path(text)
    if path.exists():
        return path
    shipped = find_shipped(text)
    if shipped is not None:
        return shipped.path
    if path.name != text:
        # A path: say so plainly, and point at the name when it is a shipped recipe's file
        # (such as the recipes/quickstart.yaml of older checkouts).
        moved = find_shipped(path.name)
        hint = f"; for the shipped recipe, give its name alone: {moved.name}" if moved else ""
        raise UsageError(f"recipe file not found: {text}{hint}")
    stem = _stem(text)
    names = [r.name for r in shipped_recipes()]
    raise UsageError(
        f"recipe file not found: {text}, and no shipped recipe is named {stem!r}; "
        f"{format_choices(stem, names)} (`compressor recipes` describes them)"
    )


def _stem(name: str) -> str:
    """``name`` without the recipe suffix."""
    return name.removesuffix(SUFFIX)
