"""Names claimed twice: by two distributions (an entry-point name) or two plugins (a loss, ...).

A conflict breaks nothing by itself. The manager and the registry record it, ``compressor
plugins`` shows it, and only what uses the contested name fails: a recipe naming the loss gets a
:class:`NameConflictError` naming both sources.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from compressor.errors import PluginError

#: The ``kind`` of a conflict over an entry-point (plugin) name rather than a registered name.
PLUGIN_KIND = "plugin"


@dataclass(frozen=True)
class NameConflict:
    """One name claimed by more than one source.

    Attributes:
        kind: ``loss``, ``pruner``, ... for a registered name; :data:`PLUGIN_KIND` for an
            entry-point name declared by several distributions.
        name: The contested name (normalized, for a registered name).
        sources: Who claims it, sorted: plugin labels
            (``name (distribution version)``) for a registered name, ``distribution version``
            for an entry-point name.
    """

    kind: str
    name: str
    sources: tuple[str, ...]

    @property
    def message(self) -> str:
        """What is wrong and what to do, on one line, naming every source."""
        if self.kind == PLUGIN_KIND:
            return (
                f"plugin name {self.name!r} is declared by {_count(self.sources)} distributions: "
                f"{_and(self.sources)}; each is loaded, and --disable-plugin {self.name} blocks "
                "every one: uninstall the one you do not want"
            )
        times = "twice" if len(self.sources) == 2 else f"{len(self.sources)} times"
        by = _and([f"by {source}" for source in self.sources])
        return (
            f"{self.kind} {self.name!r} is registered {times}: {by}; uninstall or "
            "--disable-plugin one of them"
        )

    def as_json(self) -> dict[str, Any]:
        """``kind``, ``name``, ``sources`` and ``message``, for ``compressor plugins --json``."""
        return {
            "kind": self.kind,
            "name": self.name,
            "sources": list(self.sources),
            "message": self.message,
        }


class NameConflictError(PluginError):
    """A contested name was used: the message names every source (exit code 2)."""

    def __init__(self, conflict: NameConflict) -> None:
        self.conflict = conflict
        super().__init__(conflict.message)


def _count(items: tuple[str, ...]) -> str:
    return "two" if len(items) == 2 else str(len(items))


def _and(items: list[str] | tuple[str, ...]) -> str:
    """``a and b``, ``a, b and c``."""
    items = list(items)
    return items[0] if len(items) == 1 else f"{', '.join(items[:-1])} and {items[-1]}"
