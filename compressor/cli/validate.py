"""``compressor validate RECIPE``: every check a run makes before it trains, and nothing else."""

from __future__ import annotations

import argparse
from typing import Any

from compressor.cli.common import add_recipe_arguments, registry_for


def register(commands: Any, common: argparse.ArgumentParser) -> None:
    """Add the ``validate`` command to the ``compressor`` parser's subcommands."""
    parser = commands.add_parser(
        "validate",
        parents=[common],
        help="check a recipe without running it",
        description="Check a recipe's fields, plugin names and options, and its artifact flow.",
    )
    add_recipe_arguments(parser)
    parser.set_defaults(handler=validate)


def validate(args: argparse.Namespace) -> int:
    """Resolve the recipe and run the preflight checks; print the stage flow."""
    from compressor import recipe
    from compressor.errors import RecipeError
    from compressor.preflight import load_data, run_preflight

    registry = registry_for(args)
    plan = recipe.load(args.recipe, registry, args.overrides)
    try:
        # Module paths and the like need the data and untrained models: checked here too.
        run_preflight(plan, registry, load_data(plan, registry, decode=False))
    except RecipeError as error:
        raise error.with_source(str(args.recipe)) from None
    flow = " → ".join(f"{s.name} ({s.type})" for s in plan.stages)
    print(f"{args.recipe}: valid recipe {plan.recipe.name!r}, {len(plan.stages)} stages: {flow}")
    return 0
