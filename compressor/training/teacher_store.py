"""Teacher outputs kept on disk: one memory-mapped array per output, computed once per key.

On the streamed path the teachers' outputs over a split do not stay in RAM: the one pass over
the data writes them into ``.npy`` files (numpy's format, read back as memory maps), and every
batch reads only its own rows, by the indices :func:`compressor.data.batches` yields.

An :class:`OutputStore` is a folder and what the outputs depend on (the teachers' content, the
data, its preprocessing, the device: the stage computes it, like the stage cache's key). Each
split's outputs live in ``<folder>/<key[:2]>/<key>/``: the arrays and ``outputs.json`` naming
them. They are written in a hidden staging folder beside it (the manifest last) and renamed
into place whole, so a reader sees a finished entry or none: a crash mid-pass leaves only a
staging folder, which no lookup reads. An entry whose files do not have the sizes its manifest records is ignored and recomputed.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from compressor.atomic import discard_folder

MANIFEST = "outputs.json"
FORMAT = 1


def _numpy_dtype(dtype: torch.dtype) -> np.dtype[Any]:
    """The dtype an output is stored as: numpy has no bfloat16, which float32 holds exactly."""
    if dtype == torch.bfloat16:
        return np.dtype(np.float32)
    return np.dtype(torch.empty((), dtype=dtype).numpy().dtype)


@dataclass
class DiskOutputs:
    """Memory-mapped teacher outputs of one split; :meth:`rows` reads a batch's rows.

    Attributes:
        arrays: ``(teacher index, location) -> (memory map, torch dtype)``.
        folder: Where the files are.
        reused: Whether the outputs were found on disk (``False``: computed by this run).
    """

    arrays: dict[tuple[int, str], tuple[np.ndarray, torch.dtype]]
    folder: Path
    reused: bool

    def rows(self, indices: torch.Tensor, device: str) -> dict[tuple[int, str], torch.Tensor]:
        """The outputs of rows ``indices`` (indices into the split), on ``device``."""
        picked = indices.cpu().numpy()
        return {
            key: torch.from_numpy(np.ascontiguousarray(array[picked])).to(device, dtype)
            for key, (array, dtype) in self.arrays.items()
        }

    def describe(self) -> dict[str, Any]:
        """For the stage's metrics: where the outputs are and whether they were reused."""
        return {"where": "disk", "reused": self.reused, "folder": str(self.folder)}


@dataclass
class OutputStore:
    """Where teacher outputs are kept, and what they depend on.

    Args:
        folder: The folder entries go into; ``None``: a temporary folder of this training
            alone, removed by :meth:`close` (reused across epochs, not across runs).
        material: What the outputs depend on, besides the split itself (JSON-ready).
        splits: Split name -> what that split's outputs depend on besides (the transfer data's
            dataset, options and selection).
    """

    folder: Path | None
    material: dict[str, Any] = field(default_factory=dict)
    splits: dict[str, dict[str, Any]] = field(default_factory=dict)
    _temporary: Path | None = None

    def root(self) -> Path:
        """The folder entries go into (a temporary one made on first use when none was given)."""
        if self.folder is not None:
            return Path(self.folder)
        if self._temporary is None:
            self._temporary = Path(tempfile.mkdtemp(prefix="compressor-teacher-outputs-"))
        return self._temporary

    def close(self) -> None:
        """Remove the temporary folder, if one was made."""
        if self._temporary is not None:
            shutil.rmtree(self._temporary, ignore_errors=True)
            self._temporary = None

    def key(self, split: str, extra: dict[str, Any]) -> str:
        """SHA-256 of the material, the split's name and ``extra`` (rows, locations read)."""
        text = json.dumps(
            {
                "format": FORMAT,
                **self.material,
                "split": split,
                "of_split": self.splits.get(split, {}),
                **extra,
            },
            sort_keys=True,
            default=str,
        )
        return hashlib.sha256(text.encode("utf-8")).hexdigest()

    def entry(self, key: str) -> Path:
        """The folder of ``key``'s entry."""
        return self.root() / key[:2] / key

    def load(self, key: str, rows: int) -> DiskOutputs | None:
        """The entry for ``key`` when it is whole and holds ``rows`` rows, else ``None``."""
        folder = self.entry(key)
        try:
            manifest = json.loads((folder / MANIFEST).read_text(encoding="utf-8"))
            arrays = {}
            for item in manifest["outputs"]:
                path = folder / item["file"]
                if path.stat().st_size != item["bytes"]:
                    return None  # damaged (truncated or overwritten): compute again
                array = np.load(path, mmap_mode="r")
                if array.shape[0] != rows:
                    return None
                dtype = getattr(torch, item["dtype"].removeprefix("torch."))
                arrays[(int(item["teacher"]), str(item["location"]))] = (array, dtype)
        except (OSError, ValueError, KeyError, TypeError, AttributeError):
            return None
        return DiskOutputs(arrays, folder, reused=True)

    def write(
        self, key: str, rows: int, chunks: Iterator[tuple[torch.Tensor, dict[Any, torch.Tensor]]]
    ) -> DiskOutputs:
        """Write the outputs ``chunks`` yields (``(indices, outputs)`` in order) under ``key``.

        Raises:
            OSError: The folder could not be written (full, read-only).
        """
        target = self.entry(key)
        target.parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=f".{key[:12]}.", dir=target.parent))
        try:
            files = _fill(staging, rows, chunks)
            manifest = {"format": FORMAT, "rows": rows, "outputs": files}
            (staging / MANIFEST).write_text(json.dumps(manifest, indent=2), encoding="utf-8")
            if target.exists() and self.load(key, rows) is None:
                discard_folder(target)  # damaged: replace it
            try:
                os.rename(staging, target)
            except OSError:
                if self.load(key, rows) is None:
                    raise
                # Another run published the same key meanwhile: the same outputs.
        finally:
            shutil.rmtree(staging, ignore_errors=True)
        loaded = self.load(key, rows)
        if loaded is None:
            raise OSError(f"teacher outputs written to {target} cannot be read back")
        loaded.reused = False
        return loaded


def _fill(
    staging: Path, rows: int, chunks: Iterator[tuple[torch.Tensor, dict[Any, torch.Tensor]]]
) -> list[dict[str, Any]]:
    """Write every chunk's outputs into one ``.npy`` memory map per output; returns the manifest
    entries (file, teacher, location, dtype, bytes)."""
    maps: dict[Any, tuple[np.memmap[Any, Any], torch.dtype, str]] = {}
    for indices, outputs in chunks:
        picked = indices.cpu().numpy()
        for key, value in outputs.items():
            if key not in maps:
                name = f"{len(maps)}.npy"
                created = np.lib.format.open_memmap(
                    staging / name,
                    mode="w+",
                    dtype=_numpy_dtype(value.dtype),
                    shape=(rows, *value.shape[1:]),
                )
                maps[key] = (created, value.dtype, name)
            target = maps[key][0]
            target[picked] = value.detach().float().cpu().numpy().astype(target.dtype, copy=False)
    entries = []
    for (teacher, location), (written, dtype, name) in maps.items():
        written.flush()
        entries.append(
            {
                "file": name,
                "teacher": teacher,
                "location": location,
                "dtype": str(dtype),
                "bytes": (staging / name).stat().st_size,
            }
        )
    maps.clear()
    return entries
