"""``compressor report RUN_DIR``: rebuild a run's report from its metrics.json."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from compressor.errors import UsageError


def register(commands: Any, common: argparse.ArgumentParser) -> None:
    """Add the ``report`` command to the ``compressor`` parser's subcommands."""
    parser = commands.add_parser(
        "report",
        parents=[common],
        help="rebuild a run's report from its metrics.json",
        description="Rebuild report.md, the PNG plots and the self-contained report.html of a "
        "run folder from its metrics.json.",
    )
    parser.add_argument("run_dir", type=Path, metavar="RUN_DIR", help="a run folder")
    parser.set_defaults(handler=report)


def report(args: argparse.Namespace) -> int:
    """Read metrics.json and write report.md, report.html and the plots beside it."""
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
