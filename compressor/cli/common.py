"""What every command shares: the global options, the recipe arguments, the registry."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from compressor.cli.recipes import recipe_argument

if TYPE_CHECKING:
    from compressor.plugin.registry import Registry


def global_options() -> argparse.ArgumentParser:
    """The options every command takes (``--debug``, ``--disable-plugin``), as a parent parser."""
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--debug", action="store_true", help="show tracebacks on errors")
    common.add_argument(
        "--disable-plugin",
        action="append",
        default=[],
        metavar="NAME",
        help="block a plugin by name (repeatable); also COMPRESSOR_DISABLE_PLUGINS=a,b",
    )
    return common


def add_recipe_arguments(parser: argparse.ArgumentParser) -> None:
    """The recipe file and its ``--set`` overrides (``run`` and ``validate``)."""
    parser.add_argument(
        "recipe", type=recipe_argument, help="a recipe file or a shipped recipe's name"
    )
    parser.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="PATH=VALUE",
        help="override a recipe field, e.g. --set stages.distill.epochs=3 (repeatable)",
    )


def registry_for(args: argparse.Namespace) -> Registry:
    """Every plugin, less those the command line disabled."""
    from compressor.plugin.registry import Registry

    return Registry.load(args.disable_plugin)
