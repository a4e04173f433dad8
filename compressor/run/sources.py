"""Digests of the code a stage runs, for its cache key: an edited plugin reruns what it touches.

A version number does not change when someone edits an editable install (``pip install -e``),
so the stage cache (:mod:`compressor.run.cache`) also keys on the *files*: those of compressor
itself, of the stage plugin, of the dataset, and of every plugin the stage's options reference
(losses, pruners, exporters, models), each as the whole package its module belongs to, so a
helper module the factory imports from its own package counts too. A ``package.module:attr``
string in the options (an ``import`` model's target) adds that package when it is the user's
own code rather than an installed library.

Each file is read once per process: its digest is remembered by path, modification time and
size, so the stages of one run share the work.
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.util
import re
import sys
from collections.abc import Iterable, Iterator
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any

from compressor.preflight import plugin_refs

if TYPE_CHECKING:
    from compressor.context import StageInfo
    from compressor.plugin.registry import Registry
    from compressor.records import PluginRecord

#: ``package.module:attr``, as factories and ``import`` models write it.
IMPORT_PATH = re.compile(r"^([A-Za-z_][\w.]*):[A-Za-z_][\w.]*$")
#: Folders of installed libraries: their code changes with their version, not in place.
INSTALLED_DIRS = ("site-packages", "dist-packages")

_file_digests: dict[tuple[str, int, int], str] = {}


def file_digest(path: Path) -> str:
    """SHA-256 of a file's bytes, remembered by path, modification time and size."""
    stat = path.stat()
    memo = (str(path), stat.st_mtime_ns, stat.st_size)
    if memo not in _file_digests:
        digest = hashlib.sha256()
        with open(path, "rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)
        _file_digests[memo] = digest.hexdigest()
    return _file_digests[memo]


def _files(root: Path) -> Iterator[Path]:
    """The files under ``root`` that make up a package: no caches, no hidden files."""
    for path in sorted(root.rglob("*")):
        rel = path.relative_to(root).parts
        if any(part == "__pycache__" or part.startswith(".") for part in rel):
            continue  # bytecode, editor swap files, version-control folders
        if path.is_file() and path.suffix not in (".pyc", ".pyo"):
            yield path


def tree_digest(root: Path) -> str:
    """SHA-256 over a package folder's files (names and contents), or of one module file."""
    if root.is_file():
        return file_digest(root)
    digest = hashlib.sha256()
    for path in _files(root):
        digest.update(f"{path.relative_to(root).as_posix()}\0{file_digest(path)}\n".encode())
    return digest.hexdigest()


def source_root(module_name: str) -> tuple[str, Path] | None:
    """The first regular package on ``module_name``'s dotted path: its name and folder.

    ``compressor_losses.logit`` gives the ``compressor_losses`` folder; a top-level module
    gives its own file. A namespace package spans several distributions, so the search goes
    one level deeper past it. ``None`` when the module cannot be imported or has no file.
    """
    parts = module_name.split(".")
    for depth in range(1, len(parts) + 1):
        name = ".".join(parts[:depth])
        try:
            module = sys.modules.get(name) or importlib.import_module(name)
        except Exception:  # noqa: BLE001 - an unimportable module has no source to digest
            return None
        file = getattr(module, "__file__", None)
        if not file:
            continue
        is_package = getattr(module, "__path__", None) is not None
        return name, (Path(file).resolve().parent if is_package else Path(file).resolve())
    return None


def installed(path: Path) -> bool:
    """Whether ``path`` is inside an installed library's folder (``site-packages``)."""
    return any(part in INSTALLED_DIRS for part in path.parts)


def _user_root(module_name: str) -> Path | None:
    """Where a ``module:attr`` target's top-level package lives, found without importing it;
    ``None`` for installed libraries and for what cannot be found."""
    try:
        spec = importlib.util.find_spec(module_name.split(".")[0])
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.origin or not Path(spec.origin).exists():
        return None  # missing, built in, or a namespace package
    path = Path(spec.origin).resolve()
    if installed(path):
        return None
    return path.parent if spec.submodule_search_locations is not None else path


def factory_module(factory: Any) -> str | None:
    """The module a factory lives in: the part of an import path before ``:``, or the
    callable's ``__module__``."""
    if isinstance(factory, str):
        return factory.partition(":")[0] or None
    module = getattr(factory, "__module__", None)
    return module if isinstance(module, str) else None


def stage_records(
    registry: Registry, info: StageInfo, dataset: str, task: str | None = None
) -> list[PluginRecord]:
    """The records a stage uses: its own, the dataset's, the task's (its metric and deployed
    form decide what the stage computes), and every one its options reference."""
    records = [registry.get("stage", info.type), registry.get("dataset", dataset)]
    if task is not None:
        records.append(registry.get("task", task))
    records += [registry.get(ref.kind, ref.name) for _, ref in plugin_refs(info.options, "")]
    return records


def _record_roots(registry: Registry, record: PluginRecord) -> Iterator[tuple[str, Path]]:
    """The packages behind a record: its plugin's own, and its factories' where they are not
    an installed library (a factory may be ``torch.nn:MSELoss``; torch's version is keyed)."""
    own: list[tuple[str, Path]] = []
    for info in registry.pm.infos.values():
        plugin = registry.pm.get_plugin(info.name) if info.label == record.source else None
        module = getattr(plugin, "__name__", None) if isinstance(plugin, ModuleType) else None
        found = source_root(module) if module is not None else None
        if found is not None:
            own.append(found)
    yield from own
    for factory in (record.factory, getattr(record, "preflight", None)):
        module = factory_module(factory) if factory is not None else None
        found = source_root(module) if module is not None else None
        if found is not None and (found in own or not installed(found[1])):
            yield found


def _option_targets(value: Any) -> Iterator[str]:
    """Module names of every ``package.module:attr`` string in a JSON-like value."""
    if isinstance(value, str):
        match = IMPORT_PATH.match(value)
        if match:
            yield match.group(1)
    elif isinstance(value, dict):
        for item in value.values():
            yield from _option_targets(item)
    elif isinstance(value, list):
        for item in value:
            yield from _option_targets(item)


def source_digests(
    registry: Registry, records: Iterable[PluginRecord], options: Any = None
) -> dict[str, str]:
    """``root -> digest`` for compressor and the code of ``records``.

    Args:
        registry: The run's registry (it knows which plugin module registered each record).
        records: The records a stage uses (:func:`stage_records`).
        options: The stage's options in JSON form; the user's own ``module:attr`` targets in
            them are digested too.

    Returns:
        Each package folder or module file, named by its import name, with its digest.
    """
    roots: dict[str, Path] = {}
    core = source_root("compressor")
    if core is not None:
        roots[core[0]] = core[1]
    for record in records:
        for name, root in _record_roots(registry, record):
            roots.setdefault(name, root)
    for module in _option_targets(options):
        user = _user_root(module)
        if user is not None:
            roots.setdefault(module.split(".")[0], user)
    return {name: tree_digest(root) for name, root in sorted(roots.items())}
