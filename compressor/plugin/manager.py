"""Builds the pluggy plugin manager: hookspecs, then the ``compressor`` entry points.

compressor's own plugins (losses, pruners, exporters, datasets, models, stages) register
through the entry-point group ``compressor`` exactly as a third party's package does. Entry
points are loaded one by one rather than with pluggy's ``load_setuptools_entrypoints``, so that a
plugin that fails to import, or whose hooks do not match the hookspecs (a misspelled hook, an
argument the hook does not pass), is reported with its distribution and version instead of
taking ``compressor plugins`` and every unrelated recipe down with it; and so that two
distributions using the same entry-point name is a recorded conflict (both loaded, shown by
``compressor plugins``) rather than a silent skip.

Plugins are blocked by name with ``--disable-plugin NAME`` or the environment variable
``COMPRESSOR_DISABLE_PLUGINS=name1,name2``.

The rest of compressor calls the hooks through the manager's typed methods, one per hook in
the style of tox 4's manager (:meth:`CompressorPluginManager.before_stage`, ...), never through
``pm.hook`` by name: a type checker then sees every argument. A plugin that crashes in a
lifecycle hook is named, with its distribution, in the error.
"""

from __future__ import annotations

import importlib.metadata
import os
import types
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import pluggy

from compressor import NAME, hookspecs
from compressor.errors import CompressorError, PluginError, one_line
from compressor.logs import get_logger
from compressor.plugin.conflicts import PLUGIN_KIND, NameConflict
from compressor.plugin.validation import hook_problems

if TYPE_CHECKING:
    from compressor.context import RunContext, StageInfo

DISABLE_ENV = "COMPRESSOR_DISABLE_PLUGINS"

_log = get_logger(__name__)

#: kind -> the registration hook that provides it.
REGISTRATION_HOOKS: dict[str, str] = {
    "loss": "compressor_register_losses",
    "pruner": "compressor_register_pruners",
    "exporter": "compressor_register_exporters",
    "dataset": "compressor_register_datasets",
    "model": "compressor_register_models",
    "stage": "compressor_register_stages",
    "task": "compressor_register_tasks",
}


@dataclass
class PluginInfo:
    """What ``compressor plugins`` shows about one plugin.

    Attributes:
        name: The entry-point name (also the pluggy plugin name).
        module: The import path the entry point names.
        distribution: The distribution that declares the entry point.
        version: That distribution's version.
        hooks: The hooks the plugin implements.
        error: Why the plugin could not be used (failed import or failed hook), if it could not.
        blocked: Whether the user disabled the plugin.
    """

    name: str
    module: str
    distribution: str = "unknown"
    version: str = "unknown"
    hooks: list[str] = field(default_factory=list)
    error: str | None = None
    blocked: bool = False

    @property
    def label(self) -> str:
        """``name (distribution version)``, used in error messages."""
        return f"{self.name} ({self.distribution} {self.version})"


@dataclass(frozen=True)
class Registration:
    """One plugin's implementation of a registration hook, to be called on its own.

    Attributes:
        plugin: The plugin's name (see :meth:`CompressorPluginManager.info_for`).
        hook: The hook's name (``compressor_register_losses``, ...), for messages.
        call: Calls the implementation; returns what it returned (a list of records, if the
            plugin is right).
    """

    plugin: str
    hook: str
    call: Callable[[], object]


class CompressorPluginManager(pluggy.PluginManager):
    """A pluggy manager that also remembers where each plugin came from and what broke.

    Attributes:
        infos: Every plugin found, by the name it is registered under (its entry-point name,
            or its label when several distributions declare that name), broken and blocked
            ones included.
        conflicts: Entry-point names several distributions declare.
    """

    def __init__(self) -> None:
        super().__init__(NAME)
        self.add_hookspecs(hookspecs)
        self.infos: dict[str, PluginInfo] = {}
        self.conflicts: list[NameConflict] = []

    def register_plugin(self, plugin: object, info: PluginInfo, key: str | None = None) -> bool:
        """Register ``plugin`` under ``key`` (default ``info.name``), recording its provenance.

        A plugin whose hooks do not match the hookspecs is not registered: ``info.error`` says
        which hook or argument is wrong, and the other plugins are unaffected.

        Returns:
            Whether the plugin was registered (not when blocked or broken).

        Raises:
            ValueError: Another plugin is registered under ``key`` (a programming error of the
                caller, e.g. an extra plugin named like an installed one).
        """
        key = key or info.name
        if key in self.infos and self.has_plugin(key):
            raise ValueError(f"a plugin is already registered as {key!r}")
        self.infos[key] = info
        if self.is_blocked(key):
            info.blocked = True
            return False
        if self.is_registered(plugin):
            # Two distributions' entry points naming one module (a renamed package, say).
            other = self.info_for(self.get_name(plugin) or "")
            info.error = f"{info.module} is already loaded as plugin {other.label}"
            return False
        problems = hook_problems(self, plugin)
        if problems:
            info.error = "; ".join(problems)
            return False
        try:
            self.register(plugin, name=key)
        except pluggy.PluginValidationError as exc:
            info.error = f"invalid hook implementation: {one_line(exc)}"
            return False
        info.hooks = sorted(
            caller.name for caller in (self.get_hookcallers(plugin) or []) if caller.name
        )
        return True

    def info_for(self, plugin_name: str) -> PluginInfo:
        """Provenance of a registered plugin (a bare entry is made for ad-hoc registrations)."""
        if plugin_name not in self.infos:
            plugin = self.get_plugin(plugin_name)
            module = getattr(plugin, "__name__", type(plugin).__name__)
            self.infos[plugin_name] = PluginInfo(name=plugin_name, module=module)
        return self.infos[plugin_name]

    def registrations(self, kind: str) -> list[Registration]:
        """Every plugin's implementation of the registration hook for ``kind``.

        The registry calls each on its own rather than the hook as a whole: it must know which
        plugin returned which record (for duplicate errors and ``compressor plugins``), and one
        broken plugin must not hide the others' records.

        Args:
            kind: A key of :data:`REGISTRATION_HOOKS` (``loss``, ``pruner``, ...).
        """
        hook_name = REGISTRATION_HOOKS[kind]
        caller: pluggy.HookCaller = getattr(self.hook, hook_name)
        return [
            Registration(plugin=impl.plugin_name, hook=hook_name, call=impl.function)
            for impl in caller.get_hookimpls()
        ]

    def before_stage(self, stage: StageInfo, context: RunContext) -> None:
        """Call ``compressor_before_stage``: a stage's inputs are ready and it is about to run.

        Raises:
            PluginError: A plugin's implementation raised (see :meth:`_call_lifecycle`).
        """
        self._call_lifecycle(self.hook.compressor_before_stage, stage, context=context)

    def after_stage(self, stage: StageInfo, context: RunContext, seconds: float) -> None:
        """Call ``compressor_after_stage``: a stage finished and published its outputs.

        Raises:
            PluginError: A plugin's implementation raised (see :meth:`_call_lifecycle`).
        """
        self._call_lifecycle(
            self.hook.compressor_after_stage, stage, context=context, seconds=seconds
        )

    def on_stage_error(self, stage: StageInfo, context: RunContext, error: BaseException) -> None:
        """Call ``compressor_on_stage_error``: a stage raised ``error``.

        Raises:
            PluginError: A plugin's implementation raised (see :meth:`_call_lifecycle`).
        """
        self._call_lifecycle(
            self.hook.compressor_on_stage_error, stage, context=context, error=error
        )

    def _call_lifecycle(self, caller: pluggy.HookCaller, stage: StageInfo, **kwargs: Any) -> None:
        """Call a lifecycle hook; a plugin that crashes in it is named, with its distribution.

        Raises:
            PluginError: A plugin's implementation raised (a CompressorError it raised on
                purpose passes through unchanged).
        """
        try:
            caller(stage=stage, **kwargs)
        except CompressorError:
            raise
        except Exception as error:
            plugin = _plugin_that_raised(caller, error)
            if plugin is None:
                raise
            info = self.info_for(plugin)
            raise PluginError(
                f"plugin {info.label} failed in {caller.name} for stage {stage.name!r}: "
                f"{type(error).__name__}: {error}; fix or uninstall it, or block it with "
                f"--disable-plugin {info.name}"
            ) from error


def _plugin_that_raised(caller: pluggy.HookCaller, error: BaseException) -> str | None:
    """The plugin whose implementation of the hook is in ``error``'s traceback, if any."""
    codes = {
        getattr(impl.function, "__code__", None): impl.plugin_name
        for impl in caller.get_hookimpls()
    }
    tb = error.__traceback__
    while tb is not None:
        if tb.tb_frame.f_code in codes:
            return codes[tb.tb_frame.f_code]
        tb = tb.tb_next
    return None


def disabled_from_env() -> list[str]:
    """Plugin names listed in ``COMPRESSOR_DISABLE_PLUGINS`` (comma separated)."""
    return [name.strip() for name in os.environ.get(DISABLE_ENV, "").split(",") if name.strip()]


def _entry_points() -> list[importlib.metadata.EntryPoint]:
    seen: dict[tuple[str, str], importlib.metadata.EntryPoint] = {}
    for ep in importlib.metadata.entry_points(group=NAME):
        # The same distribution can be visible twice on sys.path (e.g. an editable install
        # plus a build folder); that is one plugin, not a conflict.
        seen.setdefault((ep.name, ep.value), ep)
    return list(seen.values())


def _dist_of(ep: importlib.metadata.EntryPoint) -> tuple[str, str]:
    dist = getattr(ep, "dist", None)
    if dist is None:
        return "unknown", "unknown"
    return dist.metadata["Name"] or "unknown", dist.version or "unknown"


def build_plugin_manager(
    disabled: Iterable[str] = (),
    *,
    extra_plugins: Iterable[tuple[str, object]] = (),
) -> CompressorPluginManager:
    """Create the plugin manager: hookspecs, extra plugins, then the entry points.

    Nothing a plugin does wrong stops the others from loading: a plugin that fails to import,
    or implements a hook that does not exist, is in ``pm.infos`` with ``error`` set; an
    entry-point name several distributions declare is in ``pm.conflicts``.

    Args:
        disabled: Plugin (entry-point) names to block, in addition to ``COMPRESSOR_DISABLE_PLUGINS``.
        extra_plugins: ``(name, plugin)`` pairs registered before the entry points; tests and
            embedding applications use this to add plugins without packaging them.

    Returns:
        The manager.
    """
    pm = CompressorPluginManager()
    blocked = {*disabled, *disabled_from_env()}
    for name in blocked:
        pm.set_blocked(name)
    for name, plugin in extra_plugins:
        pm.register_plugin(plugin, PluginInfo(name=name, module=getattr(plugin, "__name__", name)))

    by_name: dict[str, list[importlib.metadata.EntryPoint]] = {}
    for ep in _entry_points():
        by_name.setdefault(ep.name, []).append(ep)
    for name, eps in by_name.items():
        infos = [PluginInfo(ep.name, ep.value, *_dist_of(ep)) for ep in eps]
        contested = len(eps) > 1
        if contested and name not in blocked:
            sources = tuple(sorted(f"{info.distribution} {info.version}" for info in infos))
            pm.conflicts.append(NameConflict(PLUGIN_KIND, name, sources))
        for ep, info in zip(eps, infos, strict=True):
            # Contested: each under its label, so that every one of them is loaded.
            _load_entry_point(pm, ep, info, info.label if contested else name, blocked)
    _log_summary(pm)
    return pm


def _load_entry_point(
    pm: CompressorPluginManager,
    ep: importlib.metadata.EntryPoint,
    info: PluginInfo,
    key: str,
    blocked: set[str],
) -> None:
    """Import and register one entry point; what goes wrong is recorded in ``info.error``."""
    pm.infos[key] = info
    if ep.name in blocked:
        info.blocked = True
        return
    try:
        plugin = ep.load()
    except Exception as exc:  # noqa: BLE001 - a broken plugin must not break unrelated work
        info.error = f"failed to import {ep.value}: {type(exc).__name__}: {exc}"
        return
    if not isinstance(plugin, types.ModuleType | type) and not hasattr(plugin, "__dict__"):
        info.error = f"entry point {ep.value} is not a module or object with hooks"
        return
    pm.register_plugin(plugin, info, key)


def _log_summary(pm: CompressorPluginManager) -> None:
    for info in pm.infos.values():
        if info.error:
            _log.info("plugin %s is broken: %s", info.label, info.error)
        elif info.blocked:
            _log.info("plugin %s is blocked", info.label)
        else:
            _log.debug("plugin %s from %s: %s", info.label, info.module, ", ".join(info.hooks))
    for conflict in pm.conflicts:
        _log.info("%s", conflict.message)
    broken = sum(1 for info in pm.infos.values() if info.error)
    blocked = sum(1 for info in pm.infos.values() if info.blocked)
    _log.info(
        "%d plugins: %d loaded, %d broken, %d blocked",
        len(pm.infos),
        len(pm.infos) - broken - blocked,
        broken,
        blocked,
    )
