"""The ``compressor`` command line: ``run``, ``validate``, ``plugins``, ``new-plugin``,
``bench``, ``report``.

Errors in the user's input end with one line and exit code 2; a stage that fails on valid
input exits with 1. Tracebacks are shown only with ``--debug``.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from compressor import __version__
from compressor.errors import CompressorError, UsageError

EPILOG = """\
examples:
  compressor run recipes/quickstart.yaml
  compressor run recipes/quickstart.yaml --set stages.distill.epochs=3 --out runs/try
  compressor validate recipes/quickstart.yaml
  compressor plugins --json
  compressor new-plugin compressor-focal --dir plugins-dev/focal
  compressor bench runs/quickstart/student.onnx --dataset digits --batch 1,64 --threads 1,2
  compressor report runs/quickstart

docs: docs/cli.md, docs/recipes.md, docs/stages.md
"""


def _parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--debug", action="store_true", help="show tracebacks on errors")
    common.add_argument(
        "--disable-plugin",
        action="append",
        default=[],
        metavar="NAME",
        help="block a plugin by name (repeatable); also COMPRESSOR_DISABLE_PLUGINS=a,b",
    )

    parser = argparse.ArgumentParser(
        prog="compressor",
        description="Distill, prune and export PyTorch models to ONNX from one YAML recipe, "
        "and benchmark the result in onnxruntime.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        parents=[common],
    )
    parser.add_argument("--version", action="version", version=f"compressor {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    def recipe_args(p: argparse.ArgumentParser) -> None:
        p.add_argument("recipe", type=Path, help="the recipe YAML file")
        p.add_argument(
            "--set",
            dest="overrides",
            action="append",
            default=[],
            metavar="PATH=VALUE",
            help="override a recipe field, e.g. --set stages.distill.epochs=3 (repeatable)",
        )

    run = sub.add_parser(
        "run",
        parents=[common],
        help="run a recipe end to end",
        description="Validate a recipe, then run its stages in order and write a run folder "
        "with the models, the resolved recipe, metrics.json and report.md.",
    )
    recipe_args(run)
    run.add_argument(
        "--out",
        type=Path,
        default=None,
        metavar="DIR",
        help="run folder (default: runs/<recipe>-<timestamp>); must be new or empty",
    )
    run.add_argument("--quiet", action="store_true", help="no progress bars")
    run.add_argument(
        "--resume",
        type=Path,
        default=None,
        metavar="RUN_DIR",
        help="continue an interrupted or failed run (RUN_DIR or RUN_DIR.failed) from its last "
        "completed epoch; give the same recipe",
    )
    run.add_argument(
        "--no-cache",
        action="store_true",
        help="run every stage even if an identical one is in the stage cache (and refresh it)",
    )
    run.add_argument(
        "--cache-dir",
        type=Path,
        default=None,
        metavar="DIR",
        help="the stage cache (default: $COMPRESSOR_CACHE_DIR or ~/.cache/compressor/stages)",
    )
    run.add_argument(
        "--nproc",
        default=None,
        metavar="N",
        help="train with N processes on this machine (DistributedDataParallel): launches "
        "torchrun --standalone --nproc_per_node=N; 1 runs in this process (docs/distributed.md)",
    )

    validate = sub.add_parser(
        "validate",
        parents=[common],
        help="check a recipe without running it",
        description="Check a recipe's fields, plugin names and options, and its artifact flow.",
    )
    recipe_args(validate)

    plugins = sub.add_parser(
        "plugins",
        parents=[common],
        help="list plugins and what they register",
        description="List every plugin (built-in and installed), its distribution, version, "
        "hooks, and the losses, pruners, exporters, datasets, models and stages it registers.",
    )
    plugins.add_argument("--json", action="store_true", help="machine-readable output")

    new_plugin = sub.add_parser(
        "new-plugin",
        parents=[common],
        help="write a ready-to-install plugin package skeleton",
        description="Write a plugin package NAME (distribution NAME, package NAME with '_' for "
        "'-'): pyproject.toml with the `compressor` entry point, a loss registered with an "
        "options schema, a README and a passing test. Then: pip install -e NAME && pytest NAME.",
    )
    new_plugin.add_argument(
        "name", metavar="NAME", help="the distribution name, e.g. compressor-focal"
    )
    new_plugin.add_argument(
        "--dir",
        type=Path,
        default=None,
        metavar="DIR",
        help="where to write it (default: ./NAME); must be new or empty",
    )

    bench = sub.add_parser(
        "bench",
        parents=[common],
        help="benchmark any ONNX file in onnxruntime",
        description="Accuracy on a dataset (when its samples fit the model's input), latency "
        "percentiles and throughput per batch size and thread count, params, MACs, file size, "
        "and how close the model runs to this machine's limits (docs/deployment.md).",
    )
    bench.add_argument("model", type=Path, metavar="MODEL.onnx", help="the ONNX file")
    bench.add_argument(
        "--dataset",
        default=None,
        metavar="NAME",
        help="a dataset plugin (accuracy, real inputs); without it: random inputs, timing only",
    )
    bench.add_argument(
        "--data-option",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="a dataset option (repeatable), e.g. root=~/mnist",
    )
    bench.add_argument("--split", choices=["test", "val", "train"], default="test")
    bench.add_argument(
        "--batch", default=None, metavar="B[,B...]", help="batch sizes, e.g. 1,64 (default: 1,64)"
    )
    bench.add_argument(
        "--threads",
        default=None,
        metavar="T[,T...]",
        help="intra-op thread counts, e.g. 1,2 (default: onnxruntime's)",
    )
    bench.add_argument("--warmup", type=int, default=10, help="untimed calls first (default 10)")
    bench.add_argument(
        "--repeat", type=int, default=100, help="at least this many timed calls (default 100)"
    )
    bench.add_argument(
        "--min-seconds", type=float, default=0.5, help="and at least this long (default 0.5)"
    )
    bench.add_argument(
        "--rounds",
        type=int,
        default=5,
        help="interleaved rounds the timed calls are spread over (default 5)",
    )
    bench.add_argument(
        "--device", default="cpu", help="cpu, or cuda to time the CUDA provider too when present"
    )
    bench.add_argument("--json", action="store_true", help="machine-readable output")

    report = sub.add_parser(
        "report",
        parents=[common],
        help="rebuild a run's report from its metrics.json",
        description="Rebuild report.md, the PNG plots and the self-contained report.html of a "
        "run folder from its metrics.json.",
    )
    report.add_argument("run_dir", type=Path, metavar="RUN_DIR", help="a run folder")
    return parser


def _registry(args: argparse.Namespace) -> Any:
    from compressor.plugin.registry import Registry

    return Registry.load(args.disable_plugin)


def cmd_validate(args: argparse.Namespace) -> int:
    """``compressor validate``."""
    from compressor import recipe
    from compressor.errors import RecipeError
    from compressor.preflight import load_data, run_preflight

    registry = _registry(args)
    plan = recipe.load(args.recipe, registry, args.overrides)
    try:
        # Module paths and the like need the data and untrained models: checked here too.
        run_preflight(plan, registry, load_data(plan, registry))
    except RecipeError as error:
        raise error.with_source(str(args.recipe)) from None
    flow = " → ".join(f"{s.name} ({s.type})" for s in plan.stages)
    print(f"{args.recipe}: valid recipe {plan.recipe.name!r}, {len(plan.stages)} stages: {flow}")
    return 0


def _nproc(value: str | None) -> int:
    if value is None:
        return 1
    try:
        nproc = int(value)
    except ValueError:
        nproc = 0
    if nproc < 1:
        raise UsageError(f"--nproc {value!r}: must be a whole number of processes, 1 or more")
    return nproc


def _without_nproc(argv: Sequence[str]) -> list[str]:
    """``argv`` less its ``--nproc N`` / ``--nproc=N``: what each torchrun process runs."""
    kept: list[str] = []
    skip = False
    for arg in argv:
        if skip:
            skip = False
        elif arg == "--nproc":
            skip = True
        elif not arg.startswith("--nproc="):
            kept.append(arg)
    return kept


def cmd_run(args: argparse.Namespace) -> int:
    """``compressor run``."""
    from rich.console import Console

    from compressor import recipe
    from compressor.training import distributed
    from compressor.run import pipeline
    from compressor.run.progress import Progress

    from compressor.errors import RecipeError
    from compressor.run.cache import StageCache, default_cache_dir

    nproc = _nproc(args.nproc)
    if nproc > 1:
        if "WORLD_SIZE" in os.environ:
            raise UsageError("--nproc: already running under torchrun; drop --nproc")
        if args.resume is not None:
            raise UsageError(
                "--resume: not supported with several processes yet; resume without --nproc"
            )
        # Check the recipe here, once, before starting N processes that would each reject it.
        recipe.load(args.recipe, _registry(args), args.overrides)
        return distributed.launch(nproc, _without_nproc(args.argv))
    registry = _registry(args)
    plan = recipe.load(args.recipe, registry, args.overrides)
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
    _print_summary(console, result.metrics)
    console.print(f"run folder: [bold]{result.run_dir}[/] (report.md, metrics.json, models)")
    return 0


def _compact(value: float | None, unit: str = "") -> str:
    if value is None:
        return "—"
    for factor, prefix in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if abs(value) >= factor:
            return f"{value / factor:.1f}{prefix}{unit}"
    return f"{value:.0f}{unit}"


def _print_summary(console: Any, metrics: dict[str, Any]) -> None:
    """The benchmark results in a table that fits an 80-column terminal."""
    from rich import box
    from rich.table import Table

    for name, stage in metrics.get("stages", {}).items():
        models = stage.get("models") if stage.get("type") == "benchmark" else None
        if not models:
            continue
        table = Table(
            title=f"{name}: onnxruntime, ratios vs {stage.get('reference')}",
            title_justify="left",
            box=box.SIMPLE_HEAD,
            pad_edge=False,
            show_edge=False,
            # The box draws a space between columns already: no padding, so that
            # `student.int8.onnx` and an 800 kB size still fit in 80 columns.
            padding=(0, 0, 0, 0),
        )
        columns = (
            "model",
            "acc",
            "p50 ms",
            "per s",
            "params",
            "size",
            "Δ acc",
            "faster",
            "smaller",
        )
        for column in columns:
            table.add_column(column, justify="left" if column == "model" else "right", no_wrap=True)
        for model, m in models.items():
            r = m.get("ratios", {})
            table.add_row(
                model,
                f"{100 * m['accuracy']:.2f}%",
                f"{m['latency_ms']['p50']:.3f}",
                _compact(m.get("throughput_per_s")),
                _compact(m.get("params")),
                _compact(m.get("file_bytes"), "B"),
                f"{r.get('accuracy_delta_points', 0):+.2f}",
                f"{r.get('latency_speedup', 1):.1f}×",
                f"{r.get('size_ratio', 1):.1f}×",
            )
        console.print(table)


def _plugin_rows(registry: Any) -> list[dict[str, Any]]:
    rows = []
    for info in registry.pm.infos.values():
        rows.append(
            {
                "name": info.name,
                "module": info.module,
                "distribution": info.distribution,
                "version": info.version,
                "hooks": info.hooks,
                "registers": registry.registered_by(info.label),
                "blocked": info.blocked,
                "error": info.error,
            }
        )
    return sorted(rows, key=lambda r: r["name"])


def cmd_plugins(args: argparse.Namespace) -> int:
    """``compressor plugins``."""
    registry = _registry(args)
    rows = _plugin_rows(registry)
    kinds = ["loss", "pruner", "exporter", "dataset", "model", "stage"]
    if args.json:
        payload = {
            "plugins": rows,
            "registered": {
                kind: [
                    {"name": r.name, "description": r.description, "source": r.source}
                    for r in registry.records(kind)
                ]
                for kind in kinds
            },
        }
        print(json.dumps(payload, indent=2))
        return 0

    from rich.console import Console
    from rich.markup import escape
    from rich.table import Table

    console = Console()
    table = Table(title="plugins", title_justify="left")
    # Three columns fit 80 characters: the plugin name (what --disable-plugin takes) over its
    # distribution and version, then the lists, which wrap.
    table.add_column("plugin / package", no_wrap=True)
    table.add_column("hooks")
    table.add_column("registers")
    for row in rows:
        registers = "\n".join(f"{k}: {', '.join(v)}" for k, v in row["registers"].items())
        if row["blocked"]:
            registers = "[yellow]blocked[/]"
        if row["error"]:
            registers = f"[red]broken:[/] {escape(row['error'])}"
        hooks = ", ".join(h.removeprefix("compressor_") for h in row["hooks"])
        plugin = f"[bold]{escape(row['name'])}[/]\n{escape(row['distribution'])} {escape(row['version'])}"
        table.add_row(plugin, hooks, registers)
    console.print(table)
    for kind in kinds:
        kind_table = Table(title="losses" if kind == "loss" else f"{kind}s", title_justify="left")
        kind_table.add_column("name", style="bold")
        kind_table.add_column("description")
        kind_table.add_column("from")
        for record in registry.records(kind):
            kind_table.add_row(record.name, record.description, record.source.split(" ")[0])
        console.print(kind_table)
    return 0


def cmd_new_plugin(args: argparse.Namespace) -> int:
    """``compressor new-plugin``."""
    from compressor.plugin.scaffold import create_plugin

    folder, files = create_plugin(args.name, args.dir)
    print(
        f"created {args.name} in {folder}: {', '.join(str(f.relative_to(folder)) for f in files)}"
    )
    print(f"next: pip install -e {folder} && pytest {folder}  (docs/plugins/tutorial.md)")
    return 0


def cmd_bench(args: argparse.Namespace) -> int:
    """``compressor bench``."""
    from compressor.cli.bench import parse_counts, parse_options, print_bench, run_bench

    batches = parse_counts(args.batch, "--batch")
    threads = parse_counts(args.threads, "--threads")
    options = parse_options(args.data_option)
    result = run_bench(
        args.model,
        registry=_registry(args) if args.dataset else None,
        dataset=args.dataset,
        data_options=options,
        split=args.split,
        batch_sizes=batches,
        threads=threads,
        warmup=args.warmup,
        repeat=args.repeat,
        min_seconds=args.min_seconds,
        rounds=args.rounds,
        device=args.device,
    )
    if args.json:
        print(json.dumps(result, indent=2, default=str))
        return 0
    from rich.console import Console

    print_bench(result, Console())
    return 0


def cmd_report(args: argparse.Namespace) -> int:
    """``compressor report``."""
    from compressor.errors import UsageError
    from compressor.report import write_report

    metrics_file = args.run_dir / "metrics.json"
    try:
        metrics = json.loads(metrics_file.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise UsageError(f"{metrics_file}: not found; RUN_DIR must be a run folder") from None
    except (OSError, ValueError) as error:
        raise UsageError(f"{metrics_file}: not readable JSON ({error})") from None
    path = write_report(args.run_dir, metrics)
    print(f"wrote {path}, {path.with_suffix('.html')} and the plots in {args.run_dir}")
    return 0


COMMANDS = {
    "run": cmd_run,
    "validate": cmd_validate,
    "plugins": cmd_plugins,
    "new-plugin": cmd_new_plugin,
    "bench": cmd_bench,
    "report": cmd_report,
}


def _rank_of_this_process() -> int:
    """torchrun's ``RANK`` (0 outside torchrun), read without importing torch."""
    try:
        return int(os.environ.get("RANK", "0"))
    except ValueError:
        return 0


def _rank_prefix(rank: int) -> str:
    """``[rank N] `` for messages of ranks other than 0, so the user knows whose error it is."""
    return f"[rank {rank}] " if rank else ""


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``compressor`` console script; returns the exit code."""
    parser = _parser()
    args = parser.parse_args(argv)
    # What `run --nproc N` hands each torchrun process, global options included.
    args.argv = list(sys.argv[1:] if argv is None else argv)
    if args.command is None:
        parser.print_help()
        return 2
    try:
        return COMMANDS[args.command](args)
    except CompressorError as error:
        if args.debug:
            raise
        rank = _rank_of_this_process()
        # Every torchrun process checks the same input: rank 0 alone reports bad input.
        if rank == 0 or not isinstance(error, UsageError):
            # One line, always: a message may quote recipe text with line breaks in it.
            print(
                f"error: {_rank_prefix(rank)}{' '.join(str(error).splitlines())}", file=sys.stderr
            )
        return error.exit_code
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except Exception as error:
        if args.debug:
            raise
        first = str(error).splitlines()[0] if str(error) else ""
        print(
            f"error: {_rank_prefix(_rank_of_this_process())}{type(error).__name__}: {first} "
            "(run again with --debug for the traceback)",
            file=sys.stderr,
        )
        return 1


if __name__ == "__main__":
    sys.exit(main())
