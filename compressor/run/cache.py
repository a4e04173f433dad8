"""Stage results cached by what determines them, so an unchanged teacher is trained once.

Like Olive's pass cache: before a cacheable stage runs, the pipeline computes a key from
everything its result depends on: the stage's resolved configuration, the content of its input
artifacts (:func:`compressor.run.results.artifact_digest`), the recipe's seed, data and
device, the versions of compressor, torch and every loaded plugin, and the files of the code
the stage runs (:mod:`compressor.run.sources`: compressor, the stage's plugin and every plugin
its options name), so editing an editable install reruns what the edit touches. On a hit the
stage's files are copied into the run folder and its artifacts and metrics restored; the report
marks it "from cache". ``compressor run --no-cache`` neither reads nor writes the cache.

Entries live in ``$COMPRESSOR_CACHE_DIR`` (default ``~/.cache/compressor/stages``), one folder
per key holding ``entry.json`` and the files. Several runs may share the folder at once: an
entry is written under a temporary name and renamed into place whole, a published entry is
never rewritten (an equal key means an equal result), and a removed one is renamed away before
it is deleted; a reader sees a whole entry or none, and an entry that is missing, unreadable
or vanishes while it is copied is a miss. Deleting the folder is always safe.
``compressor cache`` lists, prunes and clears entries (:mod:`compressor.cli.cache`).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from compressor import __version__
from compressor.atomic import atomic_path, discard_folder
from compressor.run.teacher_outputs import TEACHER_OUTPUTS_DIR

if TYPE_CHECKING:
    from compressor.context import RunContext, StageInfo
    from compressor.plugin.registry import Registry

#: The file that makes a folder of teacher outputs whole (``compressor.training.teacher_store``
#: writes it last; named here so that listing the cache needs no torch).
TEACHER_MANIFEST = "outputs.json"

ENTRY_FILE = "entry.json"
KEY_FORMAT = 2
#: A temporary folder left by a store this old was abandoned (its process died); pruning
#: and clearing remove it. A younger one may be a store in progress in another process.
STALE_STAGING_SECONDS = 3600.0


def default_cache_dir() -> Path:
    """``$COMPRESSOR_CACHE_DIR``, else ``$XDG_CACHE_HOME/compressor/stages``, else ``~/.cache/...``."""
    explicit = os.environ.get("COMPRESSOR_CACHE_DIR")
    if explicit:
        return Path(explicit).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "compressor" / "stages"


def cache_material(
    resolved: dict[str, Any], registry: Registry, info: StageInfo, context: RunContext
) -> dict[str, Any] | None:
    """What a stage's result depends on, or ``None`` when an input's content is unknown.

    Args:
        resolved: :meth:`compressor.recipe.Plan.resolved` of the run's recipe.
        registry: The run's registry (every loaded plugin's version is part of the key, and
            it knows which code the stage's records come from).
        info: The stage.
        context: The run, holding the stage's input artifacts.
    """
    import torch

    from compressor.preflight import weights_files
    from compressor.run.results import artifact_digest
    from compressor.run.sources import file_digest, source_digests, stage_records

    inputs: dict[str, Any] = {}
    for slot, names in info.inputs.items():
        digests = [
            artifact_digest(context.artifacts[n])
            for n in (names if isinstance(names, list) else [names])
        ]
        if any(d is None for d in digests):
            return None
        inputs[slot] = digests if isinstance(names, list) else digests[0]
    stage = {k: v for k, v in resolved["stages"][info.index].items() if k != "name"}
    records = stage_records(registry, info, context.recipe.data.dataset, context.task.name)
    material = {
        "stage": stage,
        "index": info.index,  # stage seeds derive from it
        "inputs": inputs,
        "recipe": {k: v for k, v in resolved.items() if k not in ("name", "description", "stages")},
        "device": context.device,
        "versions": {"compressor": __version__, "torch": torch.__version__},
        "plugins": sorted(info_.label for info_ in registry.pm.infos.values() if not info_.blocked),
        "sources": source_digests(registry, records, stage),
        # A model entry's weights file: its content, not its name, determines the result.
        "weights": {path: file_digest(Path(path)) for path in weights_files(info.options)},
    }
    if getattr(records[0], "measures_machine", False):
        # Its result is timings of this machine (a budget search): another machine reruns it.
        import platform

        material["machine"] = [platform.node(), platform.machine(), platform.processor()]
    return material


def cache_key(material: dict[str, Any]) -> str:
    """SHA-256 of the canonical JSON form of ``material``."""
    text = json.dumps({"format": KEY_FORMAT, **material}, sort_keys=True, default=str)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


@dataclass
class CachedStage:
    """One cache entry.

    Attributes:
        key: Its key.
        folder: Where its files are.
        artifacts: Descriptions of the artifacts the stage published
            (:func:`compressor.run.results.describe_artifact`).
        files: The files the stage wrote, relative to the run folder.
        metrics: The stage's metrics.
    """

    key: str
    folder: Path
    artifacts: list[dict[str, Any]]
    files: list[str]
    metrics: dict[str, Any]

    def copy_files(self, run_dir: Path) -> None:
        """Copy the stage's files into ``run_dir`` (each atomically).

        Raises:
            OSError: A file could not be read (another process removed the entry meanwhile)
                or written; the files copied before it are removed again.
        """
        copied: list[Path] = []
        try:
            for rel in self.files:
                with atomic_path(run_dir / rel) as tmp:
                    shutil.copyfile(self.folder / "files" / rel, tmp)
                copied.append(run_dir / rel)
        except OSError:
            for path in copied:
                path.unlink(missing_ok=True)
            raise


@dataclass
class CacheEntry:
    """What ``compressor cache`` shows about one entry.

    Attributes:
        key: Its key.
        folder: Its folder.
        stage: The stage type that produced it (``train``, ``distill``, ...).
        size: Bytes on disk, ``entry.json`` included.
        created: When it was stored (seconds since the epoch).
        used: When it was last stored or read (seconds since the epoch).
    """

    key: str
    folder: Path
    stage: str
    size: int
    created: float
    used: float


def _folder_size(folder: Path) -> int:
    # os.walk skips what another process removes meanwhile; Path.rglob raises mid-walk.
    total = 0
    for parent, _, names in os.walk(folder):
        for name in names:
            try:
                total += os.stat(os.path.join(parent, name)).st_size
            except OSError:
                pass  # removed meanwhile
    return total


class StageCache:
    """The cache folder; ``root=None`` disables caching.

    Args:
        root: The cache folder.
        read: ``False`` (``--no-cache``) disables the cache as well: every stage runs, and
            nothing is read or written.
    """

    def __init__(self, root: Path | None, *, read: bool = True) -> None:
        self.root = Path(root) if root is not None else None
        self.read = read

    @property
    def enabled(self) -> bool:
        """Whether anything is read or written."""
        return self.root is not None and self.read

    def _folder(self, key: str) -> Path:
        assert self.root is not None
        return self.root / key[:2] / key

    def load(self, key: str) -> CachedStage | None:
        """The entry for ``key``, or ``None`` (also when unreadable: a cache may always miss).

        A hit marks the entry as used now, which is what ``compressor cache --prune`` ages.
        """
        if not self.enabled:
            return None
        folder = self._folder(key)
        try:
            entry = json.loads((folder / ENTRY_FILE).read_text(encoding="utf-8"))
            cached = CachedStage(key, folder, entry["artifacts"], entry["files"], entry["metrics"])
            if not all((folder / "files" / rel).is_file() for rel in cached.files):
                return None
        except (OSError, ValueError, KeyError, TypeError):
            return None
        try:
            os.utime(folder / ENTRY_FILE)
        except OSError:
            pass  # a read-only cache still serves hits
        return cached

    def store(
        self,
        key: str,
        *,
        run_dir: Path,
        files: list[str],
        artifacts: list[dict[str, Any]],
        metrics: dict[str, Any],
        material: dict[str, Any],
    ) -> bool:
        """Save a stage's results under ``key``; returns ``False`` if the cache could not be written.

        The entry is built in a temporary folder beside its place and renamed into place whole.
        When another process published the same key first, its entry stays (it holds the same
        result) and this one is discarded. A full or read-only cache folder must not fail the
        run, so write errors only skip it.

        Args:
            key: The stage's key.
            run_dir: The run folder the files are in.
            files: The files the stage wrote, relative to ``run_dir``.
            artifacts: Descriptions of its artifacts.
            metrics: Its metrics.
            material: What the key was computed from (kept for people inspecting the cache).
        """
        if not self.enabled:
            return False
        target = self._folder(key)
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            staging = Path(tempfile.mkdtemp(prefix=f".{key[:12]}.", dir=target.parent))
        except OSError:
            return False
        try:
            for rel in files:
                (staging / "files" / rel).parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(run_dir / rel, staging / "files" / rel)
            entry = {
                "artifacts": artifacts,
                "files": files,
                "metrics": metrics,
                "created": time.time(),
                "key_material": material,
            }
            (staging / ENTRY_FILE).write_text(
                json.dumps(entry, indent=2, default=str), encoding="utf-8"
            )
            if (target / ENTRY_FILE).is_file():
                return True  # published by another run meanwhile: same key, same result
            if target.exists():
                discard_folder(target)  # a damaged entry (no entry.json): replace it
            os.rename(staging, target)
        except OSError:
            # Lost a race to publish the same key: the winner's entry is as good as ours.
            return (target / ENTRY_FILE).is_file()
        finally:
            shutil.rmtree(staging, ignore_errors=True)
        return True

    def entries(self) -> list[CacheEntry]:
        """Every readable entry, least recently used first."""
        found = []
        for folder in self._entry_folders():
            try:
                if folder.parent.parent.name == TEACHER_OUTPUTS_DIR:
                    # Teacher outputs kept on disk by training (compressor.training.teacher_store)
                    stat = (folder / TEACHER_MANIFEST).stat()
                    stage, created = "teacher outputs", stat.st_mtime
                else:
                    stat = (folder / ENTRY_FILE).stat()
                    entry = json.loads((folder / ENTRY_FILE).read_text(encoding="utf-8"))
                    stage = entry.get("key_material", {}).get("stage", {}).get("type", "?")
                    created = float(entry.get("created", stat.st_mtime))
            except (OSError, ValueError, AttributeError, TypeError):
                continue  # removed meanwhile, or damaged: not an entry
            found.append(
                CacheEntry(
                    folder.name, folder, str(stage), _folder_size(folder), created, stat.st_mtime
                )
            )
        return sorted(found, key=lambda e: (e.used, e.key))

    def remove(self, entry: CacheEntry) -> bool:
        """Delete one entry; ``False`` when it was gone already.

        It is renamed to a hidden name first, so a run looking it up at that moment sees it
        whole or not at all.
        """
        return discard_folder(entry.folder)

    def discard(self, key: str) -> bool:
        """Delete the entry for ``key`` (one found damaged); ``False`` when there is none."""
        return self.enabled and discard_folder(self._folder(key))

    def prune(
        self, *, older_than: float | None = None, max_size: int | None = None
    ) -> list[CacheEntry]:
        """Remove entries unused for ``older_than`` seconds, then the least recently used ones
        until the cache holds at most ``max_size`` bytes; also abandoned temporary folders.

        Returns:
            The entries removed.
        """
        self._sweep_staging()
        entries = self.entries()
        removed = []
        if older_than is not None:
            cutoff = time.time() - older_than
            removed = [e for e in entries if e.used < cutoff]
            entries = [e for e in entries if e.used >= cutoff]
        if max_size is not None:
            total = sum(e.size for e in entries)
            while entries and total > max_size:
                oldest = entries.pop(0)
                removed.append(oldest)
                total -= oldest.size
        return [e for e in removed if self.remove(e)]

    def clear(self) -> list[CacheEntry]:
        """Remove every entry and abandoned temporary folder; returns the entries removed."""
        self._sweep_staging()
        return [e for e in self.entries() if self.remove(e)]

    def _entry_folders(self) -> Iterator[Path]:
        if self.root is None or not self.root.is_dir():
            return
        shards = sorted(self.root.iterdir())
        # Teacher outputs keep the same two-level layout one folder down.
        outputs = self.root / TEACHER_OUTPUTS_DIR
        shards += sorted(outputs.iterdir()) if outputs.is_dir() else []
        for shard in shards:
            if shard.name.startswith(".") or shard == outputs:
                continue
            try:
                folders = sorted(shard.iterdir())
            except OSError:
                continue  # not a folder, or removed meanwhile
            yield from (f for f in folders if not f.name.startswith("."))

    def _sweep_staging(self) -> None:
        if self.root is None or not self.root.is_dir():
            return
        cutoff = time.time() - STALE_STAGING_SECONDS
        for shard in self.root.iterdir():
            for folder in shard.glob(".*") if shard.is_dir() else []:
                try:
                    if folder.stat().st_mtime < cutoff:
                        shutil.rmtree(folder, ignore_errors=True)
                except OSError:
                    pass  # removed meanwhile
