"""What every command shares: the global options, the recipe arguments, the registry."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from compressor.cli.recipes import recipe_argument

if TYPE_CHECKING:
    from compressor.plugin.registry import Registry


#: Where the global options given after the command land, before :func:`merge_global_options`.
AFTER_COMMAND = "after_command_"


def global_options(*, after_command: bool = False) -> argparse.ArgumentParser:
    """The options every command takes, as a parent parser.

    ``--debug``, ``--disable-plugin NAME`` (repeatable), ``-v``/``--verbose`` (repeatable) and
    ``--log-level LEVEL`` go before the command or after it. argparse gives a subcommand's
    parser its own namespace and copies every value in it over the top-level one, defaults
    included; so the copy after the command stores under other names, only when given, and
    :func:`merge_global_options` adds both up.

    Args:
        after_command: Build the copy each command's parser takes (no defaults, own names).
    """
    from compressor.logs import LEVELS

    prefix = AFTER_COMMAND if after_command else ""

    def default(value: object) -> object:
        return argparse.SUPPRESS if after_command else value

    common = argparse.ArgumentParser(add_help=False)
    group = common.add_argument_group("global options (before or after the command)")
    group.add_argument(
        "--debug",
        dest=f"{prefix}debug",
        action="store_true",
        default=default(False),
        help="show tracebacks on errors",
    )
    group.add_argument(
        "--disable-plugin",
        dest=f"{prefix}disable_plugin",
        action="append",
        default=default([]),
        metavar="NAME",
        help="block a plugin by name (repeatable); also COMPRESSOR_DISABLE_PLUGINS=a,b",
    )
    group.add_argument(
        "-v",
        "--verbose",
        dest=f"{prefix}verbose",
        action="count",
        default=default(0),
        help="log what compressor does: -v for INFO, -vv for DEBUG (standard error)",
    )
    group.add_argument(
        "--log-level",
        dest=f"{prefix}log_level",
        type=str.lower,
        choices=list(LEVELS),
        default=default(None),
        metavar="LEVEL",
        help=f"the compressor logger's level ({', '.join(LEVELS)}; default warning); overrides -v",
    )
    return common


def merge_global_options(args: argparse.Namespace) -> argparse.Namespace:
    """Fold the global options given after the command into those given before it.

    ``--debug`` is on if given either side; ``--disable-plugin`` and ``-v`` add up;
    ``--log-level`` after the command wins over one before it.

    Returns:
        ``args``, with ``debug``, ``disable_plugin``, ``verbose`` and ``log_level`` only.
    """
    given = vars(args)
    after = {
        key.removeprefix(AFTER_COMMAND): given.pop(key)
        for key in list(given)
        if key.startswith(AFTER_COMMAND)
    }
    args.debug = args.debug or after.get("debug", False)
    args.disable_plugin = [*args.disable_plugin, *after.get("disable_plugin", [])]
    args.verbose = args.verbose + after.get("verbose", 0)
    args.log_level = after.get("log_level", args.log_level)
    return args


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
