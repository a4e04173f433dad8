"""``compressor run RECIPE``: validate a recipe, run its stages, print the comparison table.

A plugin that is broken, or a name claimed twice, that the recipe does not need gets one
warning line before the run starts (on the ``compressor`` logger, so ``--log-level error``
hides it): it may be a plugin the user expects to run, such as one with lifecycle hooks.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from compressor.cli.common import add_recipe_arguments, registry_for
from compressor.cli.launch import launch, parse_nproc, without_nproc
from compressor.errors import CompressorError, UsageError
from compressor.logs import get_logger

if TYPE_CHECKING:
    from compressor.plugin.registry import Registry

_log = get_logger(__name__)


def register(commands: Any, common: argparse.ArgumentParser) -> None:
    """Add the ``run`` command to the ``compressor`` parser's subcommands."""
    parser = commands.add_parser(
        "run",
        parents=[common],
        help="run a recipe end to end",
        description="Validate a recipe, then run its stages in order and write a run folder "
        "with the models, the resolved recipe, metrics.json and report.md.",
    )
    add_recipe_arguments(parser)
    parser.add_argument(
        "--out",
        type=Path,
        default=None,
        metavar="DIR",
        help="run folder (default: runs/<recipe>-<timestamp>); must be new or empty",
    )
    parser.add_argument("--quiet", action="store_true", help="no progress bars")
    parser.add_argument(
        "--resume",
        type=Path,
        default=None,
        metavar="RUN_DIR",
        help="continue an interrupted or failed run (RUN_DIR or RUN_DIR.failed) from its last "
        "completed epoch; give the same recipe",
    )
    parser.add_argument(
        "--no-cache",
        action="store_true",
        help="run every stage, reading nothing from the stage cache and writing nothing to it",
    )
    parser.add_argument(
        "--cache-dir",
        type=Path,
        default=None,
        metavar="DIR",
        help="the stage cache (default: $COMPRESSOR_CACHE_DIR or ~/.cache/compressor/stages)",
    )
    parser.add_argument(
        "--nproc",
        default=None,
        metavar="N",
        help="train with N processes on this machine (DistributedDataParallel): launches "
        "torchrun --standalone --nproc_per_node=N; 1 runs in this process (docs/distributed.md)",
    )
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    """Run the recipe (in ``--nproc`` processes under torchrun when asked); print the summary."""
    from rich.console import Console

    from compressor import recipe
    from compressor.cli.summary import print_summary
    from compressor.errors import RecipeError
    from compressor.run import pipeline
    from compressor.run.cache import StageCache, default_cache_dir
    from compressor.run.progress import Progress
    from compressor.training import distributed

    nproc = parse_nproc(args.nproc)
    if nproc > 1:
        if "WORLD_SIZE" in os.environ:
            raise UsageError("--nproc: already running under torchrun; drop --nproc")
        if args.resume is not None:
            raise UsageError(
                "--resume: not supported with several processes yet; resume without --nproc"
            )
        # Check the recipe here, once, before starting N processes that would each reject it.
        recipe.load(args.recipe, registry_for(args), args.overrides)
        return launch(nproc, without_nproc(args.argv))
    registry = registry_for(args)
    plan = recipe.load(args.recipe, registry, args.overrides)
    _log.info("recipe %s: stages %s", args.recipe, ", ".join(s.name for s in plan.stages))
    if distributed.env_rank() == 0:
        warn_unused_problems(registry)
    progress = Progress(enabled=not args.quiet)
    cache = StageCache(args.cache_dir or default_cache_dir(), read=not args.no_cache)
    try:
        result = pipeline.run(
            plan, registry, args.out, progress=progress, resume=args.resume, cache=cache
        )
    except RecipeError as error:  # from the preflight checks, which run before any training
        raise error.with_source(str(args.recipe)) from None
    except (CompressorError, KeyboardInterrupt) as error:
        kept = getattr(error, "kept_run_dir", None)
        if kept is not None and not args.debug:
            what = str(error) if isinstance(error, CompressorError) else "interrupted"
            print(
                f"error: {what}; the run is kept in {kept} (continue it with: compressor run "
                f"{args.recipe} --resume {kept})",
                file=sys.stderr,
            )
            return error.exit_code if isinstance(error, CompressorError) else 130
        raise
    if distributed.env_rank() != 0:
        return 0  # rank 0 prints the summary
    console = Console()
    print_summary(console, result.metrics)
    console.print(f"run folder: [bold]{result.run_dir}[/] (report.md, metrics.json, models)")
    return 0


def warn_unused_problems(registry: Registry) -> None:
    """One warning line per broken plugin and per contested name, for a recipe that loaded.

    The recipe resolved, so it names nothing of theirs; but a broken plugin may be one whose
    lifecycle hooks the user expects to run, and neither should go unnoticed.
    """
    for info in registry.pm.infos.values():
        if info.error:
            _log.warning(
                "plugin %s is broken and not used: %s; `compressor plugins` lists it, "
                "--disable-plugin %s hides it",
                info.label,
                info.error,
                info.name,
            )
    for conflict in registry.conflicts():
        _log.warning("%s (this recipe does not use it)", conflict.message)
