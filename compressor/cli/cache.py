"""``compressor cache``: what the stage cache holds, and pruning or clearing it.

Lists every entry (its key, the stage type that produced it, its size, when it was stored and
last used) and the total; ``--prune`` removes entries unused for ``--older-than DAYS`` and
then the least recently used ones until the cache fits in ``--max-size SIZE``; ``--clear``
removes them all. Removing is safe while runs use the same cache (see
:mod:`compressor.run.cache`). Imports nothing heavy: it answers at once.
"""

from __future__ import annotations

import argparse
import json
import re
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from compressor.errors import UsageError

if TYPE_CHECKING:
    from compressor.run.cache import CacheEntry

#: ``--max-size`` units: binary, so ``500M`` is what ``compressor cache`` prints as 500.0 MiB.
SIZE_UNITS = {"": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30, "t": 1 << 40}
SIZE_PATTERN = re.compile(r"^\s*(\d+(?:\.\d*)?)\s*([kmgt]?)(?:i?b)?\s*$", re.IGNORECASE)
SECONDS_PER_DAY = 86400.0


def register(commands: Any, common: argparse.ArgumentParser) -> None:
    """Add the ``cache`` command to the ``compressor`` parser's subcommands."""
    parser = commands.add_parser(
        "cache",
        parents=[common],
        help="list, prune or clear the stage cache",
        description="List the stage cache's entries (stage type, size, age) and their total; "
        "prune old or least recently used entries, or clear them all.",
    )
    parser.add_argument(
        "--cache-dir",
        type=Path,
        default=None,
        metavar="DIR",
        help="the stage cache (default: $COMPRESSOR_CACHE_DIR or ~/.cache/compressor/stages)",
    )
    action = parser.add_mutually_exclusive_group()
    action.add_argument("--clear", action="store_true", help="remove every entry")
    action.add_argument(
        "--prune",
        action="store_true",
        help="remove entries by --older-than and/or --max-size (either one implies --prune)",
    )
    parser.add_argument(
        "--older-than",
        default=None,
        metavar="DAYS",
        help="prune entries not used for DAYS days (a number, e.g. 30 or 0.5)",
    )
    parser.add_argument(
        "--max-size",
        default=None,
        metavar="SIZE",
        help="prune the least recently used entries until the cache holds at most SIZE "
        "(e.g. 500M, 2G, 1.5GiB; binary units; a bare number is bytes)",
    )
    parser.add_argument("--json", action="store_true", help="machine-readable output")
    parser.set_defaults(handler=cache)


def parse_days(text: str) -> float:
    """``--older-than``'s value as seconds.

    Raises:
        UsageError: Not a number of days, 0 or more.
    """
    try:
        days = float(text)
    except ValueError:
        days = -1.0
    if not days >= 0.0 or days == float("inf"):
        raise UsageError(
            f"--older-than: expected a number of days, 0 or more, e.g. 30; got {text!r}"
        )
    return days * SECONDS_PER_DAY


def parse_size(text: str) -> int:
    """``--max-size``'s value in bytes: ``500M``, ``2G``, ``1.5GiB``, ``100000``.

    Raises:
        UsageError: Not a size.
    """
    match = SIZE_PATTERN.match(text)
    if match is None:
        raise UsageError(
            f"--max-size: expected a size such as 500M, 2G or 1.5GiB (binary units: K, M, G, "
            f"T; a bare number is bytes); got {text!r}"
        )
    return int(float(match.group(1)) * SIZE_UNITS[match.group(2).lower()])


def age(seconds: float) -> str:
    """How long ago, for people: ``just now``, ``12 min``, ``5 h``, ``3 days``."""
    if seconds < 60:
        return "just now"
    if seconds < 3600:
        return f"{seconds / 60:.0f} min ago"
    if seconds < SECONDS_PER_DAY:
        return f"{seconds / 3600:.0f} h ago"
    return f"{seconds / SECONDS_PER_DAY:.0f} days ago"


def _summary(entries: list[CacheEntry]) -> str:
    from compressor.report.format import format_bytes

    count = f"{len(entries)} {'entry' if len(entries) == 1 else 'entries'}"
    return f"{count}, {format_bytes(sum(e.size for e in entries))}"


def _print_list(root: Path, entries: list[CacheEntry]) -> None:
    from compressor.report.format import format_bytes

    if not entries:
        print(f"stage cache {root}: empty")
        return
    now = time.time()
    print(f"stage cache {root}:")
    print(f"  {'key':12s}  {'stage':12s}  {'size':>10s}  {'stored':>12s}  {'last used':>12s}")
    for e in sorted(entries, key=lambda e: e.used, reverse=True):
        print(
            f"  {e.key[:12]:12s}  {e.stage:12s}  {format_bytes(e.size):>10s}  "
            f"{age(now - e.created):>12s}  {age(now - e.used):>12s}"
        )
    print(f"total: {_summary(entries)}")


def _as_json(root: Path, entries: list[CacheEntry], removed: list[CacheEntry] | None) -> str:
    rows = [
        {
            "key": e.key,
            "stage": e.stage,
            "size": e.size,
            "created": e.created,
            "used": e.used,
            "folder": str(e.folder),
        }
        for e in entries
    ]
    payload: dict[str, Any] = {"cache_dir": str(root), "entries": rows}
    payload["total_size"] = sum(e.size for e in entries)
    if removed is not None:
        payload["removed"] = [e.key for e in removed]
    return json.dumps(payload, indent=2)


def cache(args: argparse.Namespace) -> int:
    """List the stage cache, or prune or clear it.

    Raises:
        UsageError: ``--prune`` without a limit, ``--clear`` with one, or a bad value.
    """
    from compressor.run.cache import StageCache, default_cache_dir

    older_than = parse_days(args.older_than) if args.older_than is not None else None
    max_size = parse_size(args.max_size) if args.max_size is not None else None
    limited = older_than is not None or max_size is not None
    if args.clear and limited:
        raise UsageError("--clear removes every entry; drop --older-than and --max-size")
    if args.prune and not limited:
        raise UsageError(
            "--prune: say what to remove with --older-than DAYS and/or --max-size SIZE"
        )
    root = args.cache_dir or default_cache_dir()
    store = StageCache(root)
    removed: list[CacheEntry] | None = None
    if args.clear:
        removed = store.clear()
    elif limited:
        removed = store.prune(older_than=older_than, max_size=max_size)
    entries = store.entries()
    if args.json:
        print(_as_json(root, entries, removed))
    elif removed is not None:
        print(f"removed {_summary(removed)} from {root}; {_summary(entries)} left")
    else:
        _print_list(root, entries)
    return 0
