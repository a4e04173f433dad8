"""``compressor search``: run a recipe's search with its study in shared storage, or join one.

``compressor search RECIPE --storage URL`` is ``compressor run RECIPE`` with every ``search``
stage's study in ``URL`` (an RDB such as ``postgresql://host/db``, ``sqlite:///study.db``, or a
``.journal`` file on a shared file system); ``compressor search --worker --storage URL`` joins
that study from another process or machine, as a trials worker or as the target's designated
latency worker (``--role latency``). See docs/search.md.

The stage comes from the registry (the plugin that registers ``search``), never imported here:
its factory's ``join(url, study=, role=, progress=)`` runs a worker.
"""

from __future__ import annotations

import argparse
import json
from typing import Any

from compressor.cli.common import registry_for
from compressor.cli.recipes import recipe_argument
from compressor.errors import UsageError

#: What a worker may do: see the stage's ``join``.
ROLES = ("any", "trials", "latency")


def register(commands: Any, common: argparse.ArgumentParser) -> None:
    """Add the ``search`` command to the ``compressor`` parser's subcommands."""
    from compressor.cli import run as run_command

    parser = commands.add_parser(
        "search",
        parents=[common],
        help="run a recipe's search in shared storage, or join one as a worker",
        description="Run RECIPE (as `compressor run`) with every search stage's optuna study in "
        "--storage, where other processes join it with `compressor search --worker --storage "
        "URL`. Workers run trials (--role trials), time graphs on the target (--role latency, "
        "one per target machine) or both (--role any).",
    )
    parser.add_argument(
        "recipe",
        nargs="?",
        default=None,
        type=recipe_argument,
        help="a recipe file or a shipped recipe's name (not with --worker)",
    )
    parser.add_argument(
        "--storage",
        required=True,
        metavar="URL",
        help="the study's storage: sqlite:///study.db, postgresql://user@host/db, or a .journal "
        "file every worker can reach",
    )
    parser.add_argument("--worker", action="store_true", help="join a running search")
    parser.add_argument("--study", default=None, help="with --worker: the study's name")
    parser.add_argument(
        "--role", default="any", choices=ROLES, help="with --worker: what this worker does"
    )
    parser.add_argument(
        "--set", dest="overrides", action="append", default=[], metavar="PATH=VALUE"
    )
    for option in ("--out", "--resume", "--cache-dir"):
        parser.add_argument(option, default=None, metavar="PATH")
    parser.add_argument("--quiet", action="store_true", help="no progress bars")
    parser.add_argument("--no-cache", action="store_true", help="read and write no stage cache")
    parser.set_defaults(handler=search, run_handler=run_command.run)


def _join(args: argparse.Namespace) -> int:
    """``--worker``: join the study through the registered ``search`` stage's ``join``."""
    from compressor.records import resolve_factory
    from compressor.run.progress import Progress

    record = registry_for(args).get("stage", "search")
    stage = resolve_factory(record.factory)
    if not hasattr(stage, "join"):
        raise UsageError(f"the registered search stage ({record.source}) cannot take workers")
    done = stage.join(
        args.storage, study=args.study, role=args.role, progress=Progress(enabled=not args.quiet)
    )
    print(json.dumps(done))
    return 0


def search(args: argparse.Namespace) -> int:
    """Run the recipe with its search stages' studies in ``--storage``, or join as a worker."""
    from pathlib import Path

    from compressor import recipe

    if args.worker:
        if args.recipe is not None:
            raise UsageError("--worker takes no RECIPE: the study records the run's recipe")
        return _join(args)
    if args.recipe is None:
        raise UsageError("give a RECIPE to run, or --worker to join a running search")
    plan = recipe.load(args.recipe, registry_for(args), args.overrides)
    names = [s.name for s in plan.stages if s.type == "search"]
    if not names:
        raise UsageError(f"{args.recipe} has no search stage; use compressor run")
    args.overrides = [*args.overrides, *(f"stages.{n}.storage={args.storage}" for n in names)]
    for name in ("out", "resume", "cache_dir"):
        value = getattr(args, name)
        setattr(args, name, Path(value) if value is not None else None)
    args.nproc = None
    code: int = args.run_handler(args)
    return code
