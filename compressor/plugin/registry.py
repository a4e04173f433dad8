"""The registry: every loss, pruner, exporter, dataset, model and stage that plugins registered.

Names are normalized (``MSE-Logits`` and ``mse_logits`` are the same name). A name registered
twice within a kind is a conflict: compressor never lets one plugin silently replace another's
loss, and never lets the clash break what does not use the name. The conflict is recorded
(:meth:`Registry.conflicts`, shown by ``compressor plugins``), and asking for the name is an
error naming both plugins. Asking for an unknown name is an error that lists the valid choices.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import replace
from typing import Any

from compressor.errors import UnknownNameError
from compressor.logs import get_logger
from compressor.plugin.conflicts import NameConflict, NameConflictError
from compressor.plugin.manager import (
    REGISTRATION_HOOKS,
    CompressorPluginManager,
    PluginInfo,
    build_plugin_manager,
)
from compressor.records import RECORD_TYPES, PluginRecord, normalize_name

__all__ = ["REGISTRATION_HOOKS", "NameConflict", "NameConflictError", "Registry"]

_log = get_logger(__name__)


class Registry:
    """All registered records, by kind and normalized name.

    Build it with :meth:`Registry.load` (entry points) or :meth:`Registry.from_manager`.
    """

    def __init__(self, pm: CompressorPluginManager) -> None:
        self.pm = pm
        self._records: dict[str, dict[str, PluginRecord]] = {
            kind: {} for kind in REGISTRATION_HOOKS
        }
        # kind -> name -> every record registered under a name claimed more than once.
        self._contested: dict[str, dict[str, list[PluginRecord]]] = {
            kind: {} for kind in REGISTRATION_HOOKS
        }
        for kind in REGISTRATION_HOOKS:
            self._collect(kind)
            _log.debug("%s: %s", kind, ", ".join(self.names(kind)) or "none registered")

    @classmethod
    def load(
        cls, disabled: Iterable[str] = (), *, extra_plugins: Iterable[tuple[str, object]] = ()
    ) -> Registry:
        """Load every plugin (see :func:`build_plugin_manager`) and collect its records."""
        return cls(build_plugin_manager(disabled, extra_plugins=extra_plugins))

    @classmethod
    def from_manager(cls, pm: CompressorPluginManager) -> Registry:
        """Collect records from an existing plugin manager."""
        return cls(pm)

    def _collect(self, kind: str) -> None:
        expected = RECORD_TYPES[kind]
        # Each implementation on its own: see CompressorPluginManager.registrations.
        for registration in self.pm.registrations(kind):
            hook_name = registration.hook
            info = self.pm.info_for(registration.plugin)
            try:
                returned = registration.call() or []
            except Exception as exc:  # noqa: BLE001 - a broken plugin must not break unrelated work
                _broken(info, f"{hook_name} raised {type(exc).__name__}: {exc}")
                continue
            if not isinstance(returned, list | tuple):
                # A single record instead of a list is the usual slip; iterating it would crash.
                _broken(
                    info,
                    f"{hook_name} returned {type(returned).__name__}; "
                    f"expected a list of {expected.__name__}",
                )
                continue
            for record in returned:
                if not isinstance(record, expected):
                    _broken(
                        info,
                        f"{hook_name} returned {type(record).__name__}; "
                        f"expected {expected.__name__}",
                    )
                    continue
                self._add(
                    kind, replace(record, name=normalize_name(record.name), source=info.label)
                )

    def _add(self, kind: str, record: PluginRecord) -> None:
        contested = self._contested[kind]
        if record.name in contested:
            contested[record.name].append(record)
            return
        existing = self._records[kind].pop(record.name, None)
        if existing is not None:
            contested[record.name] = [existing, record]
            return
        self._records[kind][record.name] = record

    def names(self, kind: str) -> list[str]:
        """Sorted names registered for ``kind``, contested ones included."""
        return sorted({*self._records[kind], *self._contested[kind]})

    def records(self, kind: str) -> list[PluginRecord]:
        """Records registered for ``kind``, sorted by name; contested names are left out (see
        :meth:`conflicts`)."""
        return [self._records[kind][name] for name in sorted(self._records[kind])]

    def has(self, kind: str, name: str) -> bool:
        """Whether ``name`` (normalized) is registered for ``kind``, contested or not."""
        normalized = normalize_name(name)
        return normalized in self._records[kind] or normalized in self._contested[kind]

    def get(self, kind: str, name: str) -> Any:
        """Return the record registered as ``name`` for ``kind``.

        Raises:
            UnknownNameError: No plugin registered that name; the message lists the choices and
                mentions plugins that failed to load, since the name may have been theirs.
            NameConflictError: Several plugins registered that name; the message names them.
        """
        normalized = normalize_name(name)
        record = self._records[kind].get(normalized)
        if record is not None:
            return record
        if normalized in self._contested[kind]:
            raise NameConflictError(self._conflict(kind, normalized))
        blocked = [f"{info.label} blocked" for info in self.pm.infos.values() if info.blocked]
        raise UnknownNameError(kind, name, self.names(kind), [*self.broken_plugins(), *blocked])

    def conflicts(self) -> list[NameConflict]:
        """Every name claimed more than once: entry-point names first, then registered names
        by kind and name."""
        registered = [
            self._conflict(kind, name)
            for kind in REGISTRATION_HOOKS
            for name in sorted(self._contested[kind])
        ]
        return [*self.pm.conflicts, *registered]

    def _conflict(self, kind: str, name: str) -> NameConflict:
        sources = tuple(sorted(record.source for record in self._contested[kind][name]))
        return NameConflict(kind, name, sources)

    def broken_plugins(self) -> list[str]:
        """Labels of plugins that failed to import or whose hooks raised."""
        return [info.label for info in self.pm.infos.values() if info.error]

    def plugin(self, name: str) -> PluginInfo | None:
        """The plugin with this entry-point name or label (``name (distribution version)``).

        With several distributions declaring one entry-point name, the name alone gives the
        first of them; its label gives each.
        """
        infos = self.pm.infos.values()
        return next((i for i in infos if i.label == name), None) or next(
            (i for i in infos if i.name == name), None
        )

    def why_not_loaded(self, name: str) -> str | None:
        """Why the plugin ``name`` (entry-point name or label) is not in use, in words.

        Returns:
            ``"blocked (--disable-plugin or COMPRESSOR_DISABLE_PLUGINS)"``, the plugin's error
            (``failed to import my_pkg: ImportError: ...``, ``unknown hook ...``), ``"not
            installed"`` for a name no plugin has, or ``None`` for a plugin that loaded.
        """
        info = self.plugin(name)
        if info is None:
            return "not installed"
        if info.blocked:
            return "blocked (--disable-plugin or COMPRESSOR_DISABLE_PLUGINS)"
        return info.error

    def registered_by(self, plugin_label: str) -> dict[str, list[str]]:
        """kind -> names registered by the plugin with this label (for ``compressor plugins``),
        contested ones included."""
        found: dict[str, list[str]] = {}
        for kind in REGISTRATION_HOOKS:
            names = {n for n, r in self._records[kind].items() if r.source == plugin_label}
            names |= {
                n
                for n, records in self._contested[kind].items()
                if any(r.source == plugin_label for r in records)
            }
            if names:
                found[kind] = sorted(names)
        return found


def _broken(info: PluginInfo, error: str) -> None:
    """Mark the plugin broken: its registration hook raised or returned the wrong thing."""
    info.error = error
    _log.info("plugin %s is broken: %s", info.label, error)
