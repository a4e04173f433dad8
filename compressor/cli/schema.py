"""``compressor schema``: the recipe's JSON Schema, for editors to complete and check recipes.

Composed from the plugins installed now (:func:`compressor.recipe.schema.recipe_schema`), so
a newly installed plugin's stage, loss or dataset appears once the schema is made again.
Imports no torch, onnx, onnxruntime, numpy or matplotlib: only the plugins' options models.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from compressor.cli.common import registry_for


def register(commands: Any, common: argparse.ArgumentParser) -> None:
    """Add the ``schema`` command to the ``compressor`` parser's subcommands."""
    parser = commands.add_parser(
        "schema",
        parents=[common],
        help="print the recipe JSON Schema (for editor completion)",
        description="Print the JSON Schema of a recipe, composed from every installed plugin's "
        "options: stage types, losses, pruners, exporters, datasets and models as choices, with "
        "descriptions and defaults. Point an editor at it with the first line "
        "`# yaml-language-server: $schema=recipe.schema.json` in a recipe.",
    )
    parser.add_argument(
        "--out",
        type=Path,
        metavar="FILE",
        help="write the schema to FILE (atomically) instead of standard output",
    )
    parser.set_defaults(handler=schema)


def schema(args: argparse.Namespace) -> int:
    """Print the schema, or write it to ``--out``."""
    from compressor.atomic import write_text
    from compressor.errors import UsageError
    from compressor.recipe.schema import recipe_schema

    if args.out is not None and args.out.is_dir():
        raise UsageError(
            f"--out: {args.out} is a folder; give a file, e.g. {args.out / 'recipe.schema.json'}"
        )
    text = json.dumps(recipe_schema(registry_for(args)), indent=2) + "\n"
    if args.out is None:
        print(text, end="")
        return 0
    write_text(args.out, text)
    print(f"wrote {args.out}")
    return 0
