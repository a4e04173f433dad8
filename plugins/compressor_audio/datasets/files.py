"""Audio files as a dataset: finding them, reading their headers once, reading their clips.

:class:`AudioFiles` is a map-style dataset of ``(Clip, label)`` over a list of files. Its
per-sample metadata lives in numpy arrays (the paths in one byte buffer, see
:mod:`compressor.data.streamed` on why workers grow otherwise): labels as ``targets`` (the run
then never decodes a clip to learn a label), and each file's rate, length and channels, read
from its header (``soundfile.info``) when the dataset is made, never from its samples.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from torch.utils.data import Dataset

from compressor import logs
from compressor.data.audio import Clip, read_clip
from compressor.errors import UsageError

_log = logs.get_logger(__name__)
#: The audio files read by default (their extensions, any case): what libsndfile decodes.
#: Threads that read headers: opening files waits on the disk far more than on Python.
HEADER_THREADS = 8


@dataclass(frozen=True)
class Header:
    """What a file's header says: samples per second, frames, channels; or why it is unreadable."""

    rate: int = 0
    frames: int = 0
    channels: int = 0
    problem: str | None = None


def read_header(path: str | Path) -> Header:
    """The header of ``path`` (no samples decoded); an empty file is unreadable."""
    import soundfile

    try:
        info = soundfile.info(str(path))
    except Exception as error:  # noqa: BLE001 - libsndfile and the OS raise several types
        text = " ".join(str(error).split()) or type(error).__name__
        return Header(problem=f"{type(error).__name__}: {text}")
    if info.frames <= 0:
        return Header(problem="the file holds no samples")
    return Header(int(info.samplerate), int(info.frames), int(info.channels))


def read_headers(paths: Sequence[Path]) -> list[Header]:
    """Every file's :class:`Header`, read by :data:`HEADER_THREADS` threads."""
    with ThreadPoolExecutor(HEADER_THREADS) as pool:
        return list(pool.map(read_header, paths))


def readable(
    paths: list[Path], headers: list[Header], *, skip: bool, field: str
) -> tuple[np.ndarray, int]:
    """The rows of the readable files, and how many were left out (``skip``).

    Raises:
        UsageError: A file is unreadable and ``skip`` is off; the message names the first and
            the option ``field`` that would skip them.
    """
    bad = [i for i, header in enumerate(headers) if header.problem is not None]
    if bad and not skip:
        more = f" ({len(bad)} unreadable files in all)" if len(bad) > 1 else ""
        raise UsageError(
            f"{paths[bad[0]]}: cannot read the audio file ({headers[bad[0]].problem}){more}; "
            f"remove or replace it, or set {field}: true to leave such files out"
        )
    if bad:
        _log.warning(
            "%s: left out %d unreadable audio files, the first %s (%s)",
            field,
            len(bad),
            paths[bad[0]],
            headers[bad[0]].problem,
        )
    keep = np.ones(len(paths), dtype=bool)
    keep[bad] = False
    return np.flatnonzero(keep), len(bad)


class AudioFiles(Dataset[tuple[Clip, int]]):
    """Audio files with their labels and headers: items are ``(Clip, label)``.

    Args:
        paths: One file per sample.
        labels: One class index per sample.
        headers: One :class:`Header` per file (read with :func:`read_headers`).
    """

    def __init__(
        self,
        paths: Sequence[str | Path],
        labels: Sequence[int] | np.ndarray,
        headers: Sequence[Header],
    ) -> None:
        encoded = [os.fsencode(str(p)) for p in paths]
        self._ends = np.cumsum([len(e) for e in encoded], dtype=np.int64)
        self._blob = np.frombuffer(b"".join(encoded), dtype=np.uint8)
        self.targets = np.asarray(labels, dtype=np.int64)
        self.rates = np.array([h.rate for h in headers], dtype=np.int64)
        self.frames = np.array([h.frames for h in headers], dtype=np.int64)
        self.channels = np.array([h.channels for h in headers], dtype=np.int16)
        if not len(encoded) == len(self.targets) == len(self.rates):
            raise ValueError(
                f"{len(encoded)} paths, {len(self.targets)} labels, {len(self.rates)} headers"
            )

    def __len__(self) -> int:
        return len(self.targets)

    def __getitem__(self, index: int) -> tuple[Clip, int]:
        return read_clip(self.path(index)), int(self.targets[index])

    def path(self, index: int) -> str:
        """The file of sample ``index``."""
        end = int(self._ends[index])
        start = int(self._ends[index - 1]) if index > 0 else 0
        return os.fsdecode(self._blob[start:end].tobytes())

    def sample_name(self, index: int) -> str:
        """How errors name sample ``index``: its file."""
        return self.path(index)

    @property
    def seconds(self) -> np.ndarray:
        """Each clip's duration, from its header."""
        return self.frames / np.maximum(self.rates, 1)


def describe_clips(splits: dict[str, AudioFiles]) -> dict[str, object]:
    """What ``metrics.json`` shows about the clips: their rates and durations."""
    rates = np.concatenate([s.rates for s in splits.values()])
    seconds = np.concatenate([s.seconds for s in splits.values()])
    if not len(rates):
        return {}
    values, counts = np.unique(rates, return_counts=True)
    return {
        "sample_rates": {str(int(v)): int(c) for v, c in zip(values, counts, strict=True)},
        "clip_seconds": {
            "median": round(float(np.median(seconds)), 3),
            "p95": round(float(np.percentile(seconds, 95)), 3),
            "max": round(float(seconds.max()), 3),
        },
    }


def most_common_rate(splits: dict[str, AudioFiles]) -> int:
    """The sample rate most training clips have."""
    values, counts = np.unique(splits["train"].rates, return_counts=True)
    return int(values[np.argmax(counts)])
