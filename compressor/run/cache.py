"""Stage results cached by what determines them, so an unchanged teacher is trained once.

Like Olive's pass cache: before a cacheable stage runs, the pipeline computes a key from
everything its result depends on: the stage's resolved configuration, the content of its input
artifacts (:func:`compressor.run.results.artifact_digest`), the recipe's seed, data and
device, the versions of compressor, torch and every loaded plugin. On a hit the stage's files
are copied into the run folder and its artifacts and metrics restored; the report marks it
"from cache". ``compressor run --no-cache`` ignores hits (and refreshes the entries).

Entries live in ``$COMPRESSOR_CACHE_DIR`` (default ``~/.cache/compressor/stages``), one folder
per key holding ``entry.json`` and the files; an entry appears by an atomic rename, so a crash
never leaves half of one. Deleting the folder is always safe.

What the key cannot see: changes to code a recipe imports (``module:attr`` models) without a
version bump. Use ``--no-cache`` after editing such code.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from compressor import __version__
from compressor.atomic import atomic_path

if TYPE_CHECKING:
    from compressor.context import RunContext, StageInfo
    from compressor.plugin.registry import Registry

ENTRY_FILE = "entry.json"
KEY_FORMAT = 1


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
        registry: The run's registry (every loaded plugin's version is part of the key).
        info: The stage.
        context: The run, holding the stage's input artifacts.
    """
    import torch

    from compressor.run.results import artifact_digest

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
    return {
        "stage": stage,
        "index": info.index,  # stage seeds derive from it
        "inputs": inputs,
        "recipe": {k: v for k, v in resolved.items() if k not in ("name", "description", "stages")},
        "device": context.device,
        "versions": {"compressor": __version__, "torch": torch.__version__},
        "plugins": sorted(info_.label for info_ in registry.pm.infos.values() if not info_.blocked),
    }


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
        """Copy the stage's files into ``run_dir`` (each atomically)."""
        for rel in self.files:
            with atomic_path(run_dir / rel) as tmp:
                shutil.copyfile(self.folder / "files" / rel, tmp)


class StageCache:
    """The cache folder; ``root=None`` disables caching.

    Args:
        root: The cache folder.
        read: Whether hits are used (``--no-cache`` sets ``False``: every stage runs, and the
            entries are refreshed with the new results).
    """

    def __init__(self, root: Path | None, *, read: bool = True) -> None:
        self.root = Path(root) if root is not None else None
        self.read = read

    @property
    def enabled(self) -> bool:
        """Whether anything is read or written."""
        return self.root is not None

    def _folder(self, key: str) -> Path:
        assert self.root is not None
        return self.root / key[:2] / key

    def load(self, key: str) -> CachedStage | None:
        """The entry for ``key``, or ``None`` (also when unreadable: a cache may always miss)."""
        if self.root is None or not self.read:
            return None
        folder = self._folder(key)
        try:
            entry = json.loads((folder / ENTRY_FILE).read_text(encoding="utf-8"))
            cached = CachedStage(key, folder, entry["artifacts"], entry["files"], entry["metrics"])
        except (OSError, ValueError, KeyError, TypeError):
            return None
        if not all((folder / "files" / rel).is_file() for rel in cached.files):
            return None
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

        A full or read-only cache folder must not fail the run, so write errors only skip it.

        Args:
            key: The stage's key.
            run_dir: The run folder the files are in.
            files: The files the stage wrote, relative to ``run_dir``.
            artifacts: Descriptions of its artifacts.
            metrics: Its metrics.
            material: What the key was computed from (kept for people inspecting the cache).
        """
        if self.root is None:
            return False
        target = self._folder(key)
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            staging = Path(tempfile.mkdtemp(prefix=f".{key[:12]}.", dir=target.parent))
            try:
                for rel in files:
                    (staging / "files" / rel).parent.mkdir(parents=True, exist_ok=True)
                    shutil.copyfile(run_dir / rel, staging / "files" / rel)
                entry = {
                    "artifacts": artifacts,
                    "files": files,
                    "metrics": metrics,
                    "key_material": material,
                }
                (staging / ENTRY_FILE).write_text(
                    json.dumps(entry, indent=2, default=str), encoding="utf-8"
                )
                if target.exists():
                    shutil.rmtree(target)
                os.replace(staging, target)
            finally:
                if staging.exists():
                    shutil.rmtree(staging, ignore_errors=True)
        except OSError:
            return False
        return True
