"""A whole tiny recipe run in-process: :func:`run_tiny_recipe` and its :class:`TinyRun`.

The contract checks try one plugin alone; this runs it where it will live, in a real recipe:
resolved and validated as ``compressor validate`` would, run by the same pipeline as
``compressor run`` on the CPU, into a real run folder with ``metrics.json`` and the report. The
plugins under test need not be installed: they are registered next to the installed ones, and
every lifecycle hook call they receive is recorded.
"""

from __future__ import annotations

import copy
import importlib.metadata
import json
import tempfile
import types
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from compressor.plugin.registry import Registry

#: The hooks whose calls :class:`TinyRun` records, in the order a stage sees them.
LIFECYCLE_HOOKS = ("compressor_before_stage", "compressor_after_stage", "compressor_on_stage_error")


@dataclass
class TinyRun:
    """What :func:`run_tiny_recipe` ran.

    Attributes:
        run_dir: The run folder (``NAME.failed`` when the run failed).
        metrics: Its ``metrics.json`` (``{}`` when the run failed before writing one).
        calls: Plugin name -> the lifecycle hook calls it received, in order, as ``(hook,
            stage)`` pairs such as ``("compressor_before_stage", "teacher")``.
        error: What the run raised, when ``expect_error`` was given; else ``None``.
    """

    run_dir: Path
    metrics: dict[str, Any]
    calls: dict[str, list[tuple[str, str]]] = field(default_factory=dict)
    error: Exception | None = None


def run_tiny_recipe(
    stages: Sequence[Mapping[str, Any]],
    *,
    plugins: Iterable[Any] = (),
    data: str | Mapping[str, Any] = "digits",
    tmp_path: str | Path | None = None,
    seed: int = 0,
    cache_dir: str | Path | None = None,
    expect_error: bool = False,
) -> TinyRun:
    """Validate and run a recipe made of ``stages`` on the CPU, recording the plugins' hooks.

    Args:
        stages: The recipe's ``stages:`` entries, as in YAML (``{"name": "teacher", "type":
            "train", ...}``).
        plugins: The plugins to register and record: a plugin object (a module, class instance
            or namespace with ``@hookimpl`` functions, named by its ``__name__`` or class), a
            ``(name, plugin)`` pair, or the entry-point name of an installed plugin (only
            recorded). Installed plugins are loaded as usual.
        data: A dataset name, or the recipe's whole ``data:`` mapping (``batch_size`` defaults
            to 64).
        tmp_path: The folder to run in (the run folder is ``tmp_path / "run"``); default: a
            new temporary folder.
        seed: The recipe's seed.
        cache_dir: A stage cache folder; default: no cache, every stage runs.
        expect_error: The run is expected to fail: return its error in :attr:`TinyRun.error`
            rather than raise.

    Returns:
        The :class:`TinyRun`.

    Raises:
        AssertionError: The recipe does not validate, a plugin is broken, or the run failed
            (or, with ``expect_error``, completed).
    """
    from compressor import recipe
    from compressor.errors import RecipeError
    from compressor.run import pipeline
    from compressor.run.cache import StageCache
    from compressor.run.progress import Progress

    registry, names = _registry(list(plugins))
    calls = _record_lifecycle(registry, names)
    data_config = {"dataset": data} if isinstance(data, str) else dict(data)
    raw = {
        "version": 1,
        "name": "tiny",
        "seed": seed,
        "device": "cpu",
        "data": {"batch_size": 64, **data_config},
        "stages": copy.deepcopy([dict(s) for s in stages]),
    }
    try:
        plan = recipe.resolve(raw, registry)
    except RecipeError as exc:
        raise AssertionError(f"the tiny recipe does not validate: {exc}") from exc
    out = Path(tmp_path if tmp_path is not None else tempfile.mkdtemp(prefix="compressor-run-"))
    cache = StageCache(Path(cache_dir)) if cache_dir is not None else None
    try:
        result = pipeline.run(
            plan, registry, out / "run", progress=Progress(enabled=False), cache=cache
        )
    except Exception as exc:
        kept = Path(getattr(exc, "kept_run_dir", out / "run"))
        if not expect_error:
            raise AssertionError(
                f"the tiny run failed: {type(exc).__name__}: {exc} (run folder kept in {kept})"
            ) from exc
        metrics_file = kept / "metrics.json"
        metrics = json.loads(metrics_file.read_text()) if metrics_file.is_file() else {}
        return TinyRun(run_dir=kept, metrics=metrics, calls=calls, error=exc)
    assert not expect_error, f"expected the tiny run to fail, but it completed in {result.run_dir}"
    return TinyRun(run_dir=result.run_dir, metrics=result.metrics, calls=calls)


def _registry(plugins: list[Any]) -> tuple[Registry, list[str]]:
    """The installed plugins plus the given ones, and the names of the given ones.

    Raises:
        AssertionError: A named plugin is not installed, or a given plugin is broken.
    """
    from compressor.plugin.registry import Registry

    extra: list[tuple[str, object]] = []
    names: list[str] = []
    for plugin in plugins:
        installed = plugin if isinstance(plugin, str) else _entry_point_name(plugin)
        if installed is not None:
            names.append(installed)  # loaded through its entry point, as in a real run
            continue
        name, obj = plugin if isinstance(plugin, tuple) else (_name_of(plugin), plugin)
        extra.append((name, obj))
        names.append(name)
    registry = Registry.load(extra_plugins=extra)
    for name in names:
        info = registry.pm.infos.get(name)
        assert info is not None, (
            f"plugin {name!r} is not installed; installed: {', '.join(sorted(registry.pm.infos))}"
        )
        assert info.error is None and not info.blocked, (
            f"plugin {name!r} did not load: {info.error or 'it is blocked'}"
        )
    return registry, names


def _entry_point_name(plugin: object) -> str | None:
    """The entry-point name under which ``plugin`` (a module) is installed, if it is."""
    if not isinstance(plugin, types.ModuleType):
        return None
    from compressor import NAME

    for ep in importlib.metadata.entry_points(group=NAME):
        if ep.value == plugin.__name__:
            return ep.name
    return None


def _name_of(plugin: object) -> str:
    """The name a plugin object is registered and recorded under: its module's or its class's."""
    name = getattr(plugin, "__name__", None)
    return name if isinstance(name, str) else type(plugin).__name__


def _record_lifecycle(registry: Registry, names: list[str]) -> dict[str, list[tuple[str, str]]]:
    """Record, per plugin in ``names``, each lifecycle hook call its implementations get."""
    calls: dict[str, list[tuple[str, str]]] = {name: [] for name in names}

    def before(hook_name: str, hook_impls: Sequence[Any], kwargs: Mapping[str, Any]) -> None:
        if hook_name not in LIFECYCLE_HOOKS:
            return
        # pluggy calls the implementations last registered first.
        for impl in reversed(hook_impls):
            if impl.plugin_name in calls:
                calls[impl.plugin_name].append((hook_name, kwargs["stage"].name))

    def after(outcome: Any, hook_name: str, hook_impls: Sequence[Any], kwargs: Any) -> None:
        pass

    registry.pm.add_hookcall_monitoring(before, after)
    return calls
