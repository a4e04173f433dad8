"""Builds the pluggy plugin manager: hookspecs, then the ``compressor`` entry points.

compressor's own plugins (losses, pruners, exporters, datasets, models, stages) register
through the entry-point group ``compressor`` exactly as a third party's package does. Entry
points are loaded one by one rather than with pluggy's ``load_setuptools_entrypoints``, so that a
plugin that fails to import is reported (with its distribution and version) instead of taking
``compressor plugins`` and every unrelated recipe down with it, and so that two distributions
using the same entry-point name is an error rather than a silent skip.

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
from compressor.errors import CompressorError, PluginError

if TYPE_CHECKING:
    from compressor.context import RunContext, StageInfo

DISABLE_ENV = "COMPRESSOR_DISABLE_PLUGINS"

#: kind -> the registration hook that provides it.
REGISTRATION_HOOKS: dict[str, str] = {
    "loss": "compressor_register_losses",
    "pruner": "compressor_register_pruners",
    "exporter": "compressor_register_exporters",
    "dataset": "compressor_register_datasets",
    "model": "compressor_register_models",
    "stage": "compressor_register_stages",
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
    """A pluggy manager that also remembers where each plugin came from and what broke."""

    def __init__(self) -> None:
        super().__init__(NAME)
        self.add_hookspecs(hookspecs)
        self.infos: dict[str, PluginInfo] = {}

    def register_plugin(self, plugin: object, info: PluginInfo) -> None:
        """Register ``plugin`` under ``info.name`` and record its provenance."""
        self.register(plugin, name=info.name)
        info.hooks = sorted(
            caller.name for caller in (self.get_hookcallers(plugin) or []) if caller.name
        )
        self.infos[info.name] = info

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
            label = self.info_for(plugin).label
            raise PluginError(
                f"plugin {label} failed in {caller.name} for stage {stage.name!r}: "
                f"{type(error).__name__}: {error}; fix or uninstall it, or block it with "
                f"--disable-plugin {plugin}"
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
    """Create the plugin manager: hookspecs, extra plugins, entry points, then ``check_pending``.

    Args:
        disabled: Plugin (entry-point) names to block, in addition to ``COMPRESSOR_DISABLE_PLUGINS``.
        extra_plugins: ``(name, plugin)`` pairs registered before the entry points; tests and
            embedding applications use this to add plugins without packaging them.

    Returns:
        The manager. Plugins that failed to import are in ``pm.infos`` with ``error`` set.

    Raises:
        PluginError: Two distributions declare the same entry-point name, or a plugin implements
            a hook that does not exist (a typo such as ``compressor_register_loss``).
    """
    pm = CompressorPluginManager()
    blocked = {*disabled, *disabled_from_env()}
    for name in blocked:
        pm.set_blocked(name)
    for name, plugin in extra_plugins:
        pm.register_plugin(plugin, PluginInfo(name=name, module=getattr(plugin, "__name__", name)))

    owners: dict[str, PluginInfo] = {}
    for ep in _entry_points():
        dist_name, version = _dist_of(ep)
        info = PluginInfo(name=ep.name, module=ep.value, distribution=dist_name, version=version)
        if ep.name in owners:
            first = owners[ep.name]
            raise PluginError(
                f"plugin name {ep.name!r} is declared by two distributions: "
                f"{first.distribution} {first.version} and {dist_name} {version}; "
                f"uninstall one, or block it with --disable-plugin"
            )
        owners[ep.name] = info
        if ep.name in blocked:
            info.blocked = True
            pm.infos[ep.name] = info
            continue
        try:
            plugin = ep.load()
        except Exception as exc:  # noqa: BLE001 - a broken plugin must not break unrelated work
            info.error = f"failed to import {ep.value}: {type(exc).__name__}: {exc}"
            pm.infos[ep.name] = info
            continue
        if not isinstance(plugin, types.ModuleType | type) and not hasattr(plugin, "__dict__"):
            info.error = f"entry point {ep.value} is not a module or object with hooks"
            pm.infos[ep.name] = info
            continue
        try:
            pm.register_plugin(plugin, info)
        except pluggy.PluginValidationError as exc:
            info.error = f"invalid hook implementation: {exc}"
            pm.infos[ep.name] = info

    try:
        pm.check_pending()
    except pluggy.PluginValidationError as exc:
        name = pm.get_name(exc.plugin) or repr(exc.plugin)
        raise PluginError(f"plugin {name!r} implements an unknown hook: {exc}") from None
    return pm
