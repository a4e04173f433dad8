"""``compressor new-plugin NAME``: a ready-to-install plugin package (see the scaffold)."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any


def register(commands: Any, common: argparse.ArgumentParser) -> None:
    """Add the ``new-plugin`` command to the ``compressor`` parser's subcommands."""
    parser = commands.add_parser(
        "new-plugin",
        parents=[common],
        help="write a ready-to-install plugin package skeleton",
        description="Write a plugin package NAME (distribution NAME, package NAME with '_' for "
        "'-'): pyproject.toml with the `compressor` entry point, a loss registered with an "
        "options schema, a README and a passing test. Then: pip install -e NAME && pytest NAME.",
    )
    parser.add_argument("name", metavar="NAME", help="the distribution name, e.g. compressor-focal")
    parser.add_argument(
        "--dir",
        type=Path,
        default=None,
        metavar="DIR",
        help="where to write it (default: ./NAME); must be new or empty",
    )
    parser.set_defaults(handler=new_plugin)


def new_plugin(args: argparse.Namespace) -> int:
    """Write the package and say what to do next."""
    from compressor.plugin.scaffold import create_plugin

    folder, files = create_plugin(args.name, args.dir)
    written = ", ".join(str(f.relative_to(folder)) for f in files)
    print(f"created {args.name} in {folder}: {written}")
    print(f"next: pip install -e {folder} && pytest {folder}  (docs/plugins/tutorial.md)")
    return 0
