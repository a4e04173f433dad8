"""The registry: every loss, pruner, exporter, dataset, model and stage that plugins registered.

Names are normalized (``MSE-Logits`` and ``mse_logits`` are the same name). A name registered
twice within a kind is an error naming both plugins: compressor never lets one plugin silently
replace another's loss. Asking for an unknown name is an error that lists the valid choices.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import replace
from typing import Any

from compressor.errors import PluginError, UnknownNameError
from compressor.plugin.manager import (
    REGISTRATION_HOOKS,
    CompressorPluginManager,
    build_plugin_manager,
)
from compressor.records import RECORD_TYPES, PluginRecord, normalize_name

__all__ = ["REGISTRATION_HOOKS", "Registry"]


class Registry:
    """All registered records, by kind and normalized name.

    Build it with :meth:`Registry.load` (entry points) or :meth:`Registry.from_manager`.
    """

    def __init__(self, pm: CompressorPluginManager) -> None:
        self.pm = pm
        self._records: dict[str, dict[str, PluginRecord]] = {
            kind: {} for kind in REGISTRATION_HOOKS
        }
        for kind in REGISTRATION_HOOKS:
            self._collect(kind)

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
                info.error = f"{hook_name} raised {type(exc).__name__}: {exc}"
                continue
            if not isinstance(returned, list | tuple):
                # A single record instead of a list is the usual slip; iterating it would crash.
                info.error = f"{hook_name} returned {type(returned).__name__}; expected a list of {expected.__name__}"
                continue
            for record in returned:
                if not isinstance(record, expected):
                    info.error = f"{hook_name} returned {type(record).__name__}; expected {expected.__name__}"
                    continue
                self._add(
                    kind, replace(record, name=normalize_name(record.name), source=info.label)
                )

    def _add(self, kind: str, record: PluginRecord) -> None:
        existing = self._records[kind].get(record.name)
        if existing is not None:
            raise PluginError(
                f"{kind} {record.name!r} is registered twice: by {existing.source} and by "
                f"{record.source}; uninstall or --disable-plugin one of them"
            )
        self._records[kind][record.name] = record

    def names(self, kind: str) -> list[str]:
        """Sorted names registered for ``kind``."""
        return sorted(self._records[kind])

    def records(self, kind: str) -> list[PluginRecord]:
        """Records registered for ``kind``, sorted by name."""
        return [self._records[kind][name] for name in self.names(kind)]

    def has(self, kind: str, name: str) -> bool:
        """Whether ``name`` (normalized) is registered for ``kind``."""
        return normalize_name(name) in self._records[kind]

    def get(self, kind: str, name: str) -> Any:
        """Return the record registered as ``name`` for ``kind``.

        Raises:
            UnknownNameError: No plugin registered that name; the message lists the choices and
                mentions plugins that failed to load, since the name may have been theirs.
        """
        record = self._records[kind].get(normalize_name(name))
        if record is None:
            blocked = [f"{info.label} blocked" for info in self.pm.infos.values() if info.blocked]
            raise UnknownNameError(kind, name, self.names(kind), [*self.broken_plugins(), *blocked])
        return record

    def broken_plugins(self) -> list[str]:
        """Labels of plugins that failed to import or whose hooks raised."""
        return [info.label for info in self.pm.infos.values() if info.error]

    def registered_by(self, plugin_label: str) -> dict[str, list[str]]:
        """kind -> names registered by the plugin with this label (for ``compressor plugins``)."""
        found: dict[str, list[str]] = {}
        for kind, records in self._records.items():
            names = [name for name, record in records.items() if record.source == plugin_label]
            if names:
                found[kind] = sorted(names)
        return found
