"""``compressor recipes``: the shipped recipes, by name; and the ``RECIPE`` argument's type.

``run`` and ``validate`` take a recipe file or a shipped recipe's name
(:func:`compressor.recipe.shipped.resolve_recipe_path`). Reads YAML only: no plugin is loaded,
and the recipe package is imported only when a command needs it, so building the parser stays
instant.
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path
from typing import Any

from compressor.errors import UsageError


def register(commands: Any, common: argparse.ArgumentParser) -> None:
    """Add the ``recipes`` command to the ``compressor`` parser's subcommands."""
    parser = commands.add_parser(
        "recipes",
        parents=[common],
        help="list the shipped recipes",
        description="List the recipes shipped with compressor: name, stages and description. "
        "`compressor run NAME` runs one; copy its file to change it.",
    )
    parser.add_argument("--json", action="store_true", help="machine-readable output")
    parser.set_defaults(handler=recipes)


class UnresolvedRecipe(os.PathLike[str]):
    """A ``RECIPE`` argument that names no file and no shipped recipe.

    argparse would print its usage above a type error; instead the error is raised where the
    command first opens the recipe, so it reaches the user through the CLI's one-line error
    path, like any other bad input.
    """

    def __init__(self, text: str, error: UsageError) -> None:
        self.text = text
        self.error = error

    def __fspath__(self) -> str:
        raise self.error

    def __str__(self) -> str:
        return self.text


def recipe_argument(text: str) -> Path | UnresolvedRecipe:
    """argparse ``type`` of ``RECIPE``: the file, or the shipped recipe's file, that it names."""
    from compressor.recipe.shipped import resolve_recipe_path

    try:
        return resolve_recipe_path(text)
    except UsageError as error:
        return UnresolvedRecipe(text, error)


def recipe_rows() -> list[dict[str, Any]]:
    """One JSON-ready row per shipped recipe: name, description, stages, path."""
    from compressor.recipe.shipped import shipped_recipes

    rows = []
    for shipped in shipped_recipes():
        raw = shipped.read()
        stages = [
            {"name": stage.get("name") or stage.get("type"), "type": stage.get("type")}
            for stage in raw.get("stages") or []
            if isinstance(stage, dict)
        ]
        rows.append(
            {
                "name": shipped.name,
                "description": " ".join(str(raw.get("description") or "").split()),
                "stages": stages,
                "path": str(shipped.path),
            }
        )
    return rows


def stage_flow(stages: list[dict[str, Any]]) -> str:
    """``teacher (train) → distill → prune``: each stage, and its type when the name differs."""
    return " → ".join(
        s["name"] if s["name"] == s["type"] else f"{s['name']} ({s['type']})" for s in stages
    )


def recipes(args: argparse.Namespace) -> int:
    """Print one line per shipped recipe, or JSON with ``--json``."""
    from compressor.recipe.shipped import recipes_dir

    rows = recipe_rows()
    if args.json:
        print(json.dumps({"recipes": rows, "folder": str(recipes_dir())}, indent=2))
        return 0
    width = max((len(row["name"]) for row in rows), default=0)
    for row in rows:
        print(f"{row['name']:<{width}}  {stage_flow(row['stages'])}: {row['description']}")
    print(f"run one with `compressor run NAME`; the files are in {recipes_dir()}")
    return 0
