"""``compressor plugins``: every plugin, its package and version, its hooks, what it registers,
and the names claimed twice.

Imports no torch, onnx, onnxruntime, numpy or matplotlib: it answers in well under a second. A
broken plugin or a conflict is shown, never fatal: the command exits 0.
"""

from __future__ import annotations

import argparse
import json
from typing import TYPE_CHECKING, Any

from compressor.cli.common import registry_for

if TYPE_CHECKING:
    from compressor.plugin.registry import Registry

#: The kinds of registered things, in the order they are listed.
KINDS = ("task", "loss", "pruner", "exporter", "dataset", "model", "stage")


def register(commands: Any, common: argparse.ArgumentParser) -> None:
    """Add the ``plugins`` command to the ``compressor`` parser's subcommands."""
    parser = commands.add_parser(
        "plugins",
        parents=[common],
        help="list plugins and what they register",
        description="List every plugin (built-in and installed), its distribution, version, "
        "hooks, and the losses, pruners, exporters, datasets, models and stages it registers.",
    )
    parser.add_argument("--json", action="store_true", help="machine-readable output")
    parser.set_defaults(handler=plugins)


def plugin_rows(registry: Registry) -> list[dict[str, Any]]:
    """One JSON-ready row per plugin, sorted by name."""
    rows = [
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
        for info in registry.pm.infos.values()
    ]
    return sorted(rows, key=lambda r: r["name"])


def plugins(args: argparse.Namespace) -> int:
    """List the plugins as tables, or as JSON with ``--json``."""
    registry = registry_for(args)
    rows = plugin_rows(registry)
    if args.json:
        payload = {
            "plugins": rows,
            "registered": {
                kind: [
                    {"name": r.name, "description": r.description, "source": r.source}
                    for r in registry.records(kind)
                ]
                for kind in KINDS
            },
            "conflicts": [conflict.as_json() for conflict in registry.conflicts()],
        }
        print(json.dumps(payload, indent=2))
        return 0
    _print_tables(registry, rows)
    return 0


def _print_tables(registry: Registry, rows: list[dict[str, Any]]) -> None:
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
    contested = {(c.kind, c.name) for c in registry.conflicts()}
    for row in rows:
        registers = "\n".join(
            f"{kind}: "
            + ", ".join(
                f"[red]{escape(n)} (conflict)[/]" if (kind, n) in contested else escape(n)
                for n in names
            )
            for kind, names in row["registers"].items()
        )
        if row["blocked"]:
            registers = "[yellow]blocked[/]"
        if row["error"]:
            registers = f"[red]broken:[/] {escape(row['error'])}"
        hooks = ", ".join(h.removeprefix("compressor_") for h in row["hooks"])
        name, package = (
            escape(row["name"]),
            f"{escape(row['distribution'])} {escape(row['version'])}",
        )
        table.add_row(f"[bold]{name}[/]\n{package}", hooks, registers)
    console.print(table)
    _print_conflicts(console, registry)
    for kind in KINDS:
        kind_table = Table(title="losses" if kind == "loss" else f"{kind}s", title_justify="left")
        kind_table.add_column("name", style="bold")
        kind_table.add_column("description")
        kind_table.add_column("from")
        listed = [
            (record.name, escape(record.description), record.source.split(" ")[0])
            for record in registry.records(kind)
        ]
        listed += [
            (
                conflict.name,
                "[red]conflict:[/] registered more than once (see conflicts)",
                ", ".join(source.split(" ")[0] for source in conflict.sources),
            )
            for conflict in registry.conflicts()
            if conflict.kind == kind
        ]
        for name, description, source in sorted(listed):
            kind_table.add_row(escape(name), description, escape(source))
        console.print(kind_table)


def _print_conflicts(console: Any, registry: Registry) -> None:
    """The names claimed more than once, each with every source and what to do; if any."""
    from rich.markup import escape
    from rich.table import Table

    conflicts = registry.conflicts()
    if not conflicts:
        return
    table = Table(title="conflicts", title_justify="left", title_style="bold red")
    table.add_column("name", no_wrap=True)
    table.add_column("claimed by")
    table.add_column("what to do")
    for conflict in conflicts:
        table.add_row(
            f"[bold]{escape(conflict.name)}[/]\n{conflict.kind}",
            "\n".join(escape(source) for source in conflict.sources),
            escape(conflict.message.split("; ", 1)[-1]),
        )
    console.print(table)
