"""Detection samples as map-style datasets whose metadata lives in numpy arrays.

Every split a detection dataset plugin returns is a :class:`DetectionSamples`: item ``i`` is
``(image, target)``, a PIL RGB image at its original size and a float32 ``(M, 6)`` array of
rows ``[class, x1, y1, x2, y2, difficult]`` (corners normalized to 0..1 of the image's width
and height). Without decoding an image it also gives :attr:`~DetectionSamples.targets` (every
sample's rows), :attr:`~DetectionSamples.sizes` (``(N, 2)`` height, width) and
:meth:`~DetectionSamples.sample_name`.

The boxes of all samples are one ``(T, 6)`` array cut by an offsets array, the file paths one
byte buffer: no Python object per sample, which ``DataLoader`` workers would copy page by page
as they touch reference counts (see :mod:`compressor.data.streamed`).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from torch.utils.data import Dataset

from compressor.data.images import convert, read_image

#: Columns of one target row.
TARGET_COLUMNS = ("class", "x1", "y1", "x2", "y2", "difficult")
#: The class of a padding row in a padded batch of targets.
PADDING_CLASS = -1.0
#: EXIF orientations that swap width and height (transpose, 90 and 270 degree rotations).
SWAPPING_ORIENTATIONS = (5, 6, 7, 8)


def pack_rows(rows: Sequence[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """Every sample's ``(M, 6)`` rows as one ``(T, 6)`` float32 array and ``N + 1`` offsets."""
    counts = np.fromiter((len(r) for r in rows), dtype=np.int64, count=len(rows))
    offsets = np.zeros(len(rows) + 1, dtype=np.int64)
    np.cumsum(counts, out=offsets[1:])
    flat = (
        np.concatenate([np.asarray(r, dtype=np.float32).reshape(-1, 6) for r in rows])
        if len(rows)
        else np.zeros((0, 6), dtype=np.float32)
    )
    return np.ascontiguousarray(flat, dtype=np.float32), offsets


class BoxTargets:
    """Every sample's target rows, read without decoding: ``len()`` and ``[i] -> (M, 6)``.

    Args:
        rows: All samples' rows, ``(T, 6)`` float32, sample after sample.
        offsets: ``N + 1`` offsets: sample ``i``'s rows are ``rows[offsets[i]:offsets[i + 1]]``.
    """

    def __init__(self, rows: np.ndarray, offsets: np.ndarray) -> None:
        self.rows = rows
        self.offsets = offsets

    def __len__(self) -> int:
        return len(self.offsets) - 1

    def __getitem__(self, index: int) -> np.ndarray:
        if not -len(self) <= index < len(self):
            raise IndexError(f"sample {index} of {len(self)}")
        index %= len(self)
        start, end = int(self.offsets[index]), int(self.offsets[index + 1])
        return self.rows[start:end].copy()

    def counts(self) -> np.ndarray:
        """How many rows (objects) each sample has, ``(N,)`` int64."""
        return np.diff(self.offsets)

    def padded(self, min_rows: int = 1) -> np.ndarray:
        """All targets as one ``(N, Mmax, 6)`` float32 array, short ones padded with rows whose
        class is -1 (other fields 0): the batch form of the ``detection`` task, built without a
        Python loop over samples. ``Mmax`` is at least ``min_rows``."""
        counts = self.counts()
        width = max(int(counts.max()) if len(counts) else 0, min_rows)
        out = np.zeros((len(counts), width, 6), dtype=np.float32)
        out[:, :, 0] = PADDING_CLASS
        sample = np.repeat(np.arange(len(counts)), counts)
        slot = np.arange(len(self.rows)) - np.repeat(self.offsets[:-1], counts)
        out[sample, slot] = self.rows
        return out

    def take(self, indices: np.ndarray) -> BoxTargets:
        """The targets of samples ``indices``, in that order."""
        starts, ends = self.offsets[:-1][indices], self.offsets[1:][indices]
        counts = ends - starts
        offsets = np.zeros(len(indices) + 1, dtype=np.int64)
        np.cumsum(counts, out=offsets[1:])
        gather = np.repeat(starts - offsets[:-1], counts) + np.arange(int(offsets[-1]))
        return BoxTargets(self.rows[gather], offsets)


class DetectionSamples(Dataset[tuple[Any, np.ndarray]]):
    """What every detection split shares: targets and sizes in numpy arrays.

    Args:
        targets: Every sample's rows.
        sizes: ``(N, 2)`` int ``(height, width)`` of each image, as the item serves it.
    """

    def __init__(self, targets: BoxTargets, sizes: np.ndarray) -> None:
        self.targets = targets
        self.sizes = np.asarray(sizes, dtype=np.int64).reshape(-1, 2)
        if len(self.sizes) != len(targets):
            raise ValueError(f"{len(self.sizes)} sizes for {len(targets)} targets")

    def __len__(self) -> int:
        return len(self.targets)

    def __getitem__(self, index: int) -> tuple[Any, np.ndarray]:
        return self.image(int(index)), self.targets[int(index)]

    def image(self, index: int) -> Any:
        """Sample ``index``'s image, a PIL RGB image."""
        raise NotImplementedError

    def sample_name(self, index: int) -> str:
        """How errors name sample ``index``."""
        raise NotImplementedError

    def subset(self, indices: np.ndarray) -> DetectionSamples:
        """The samples ``indices`` as a dataset of the same kind (a split of this one)."""
        raise NotImplementedError


class DetectionFiles(DetectionSamples):
    """Image files and their boxes.

    Args:
        paths: One image file per sample.
        targets: Every sample's rows.
        sizes: ``(N, 2)`` ``(height, width)`` of each image as served (after the EXIF
            rotation when ``orientations`` is given).
        orientations: Each file's EXIF orientation (1..8, 0 for none) to apply on reading;
            ``None`` serves the stored pixels as they are.
    """

    def __init__(
        self,
        paths: Sequence[str | Path],
        targets: BoxTargets,
        sizes: np.ndarray,
        orientations: np.ndarray | None = None,
    ) -> None:
        super().__init__(targets, sizes)
        encoded = [os.fsencode(str(p)) for p in paths]
        if len(encoded) != len(targets):
            raise ValueError(f"{len(encoded)} paths for {len(targets)} targets")
        self._ends = np.cumsum([len(e) for e in encoded], dtype=np.int64)
        self._blob = np.frombuffer(b"".join(encoded), dtype=np.uint8)
        self.orientations = (
            None if orientations is None else np.asarray(orientations, dtype=np.uint8)
        )

    def path(self, index: int) -> str:
        """The image file of sample ``index``."""
        end = int(self._ends[index])
        start = int(self._ends[index - 1]) if index > 0 else 0
        return os.fsdecode(self._blob[start:end].tobytes())

    def image(self, index: int) -> Any:
        if self.orientations is None or self.orientations[index] <= 1:
            return read_image(self.path(index), 3)
        from PIL import Image, ImageOps

        # Rotate before converting: the orientation tag lives in the file's own image.
        with Image.open(self.path(index)) as stored:
            stored.load()
            return convert(ImageOps.exif_transpose(stored), 3)

    def sample_name(self, index: int) -> str:
        return self.path(index)

    def subset(self, indices: np.ndarray) -> DetectionFiles:
        rows = np.asarray(indices, dtype=np.int64)
        return DetectionFiles(
            [self.path(int(i)) for i in rows],
            self.targets.take(rows),
            self.sizes[rows],
            None if self.orientations is None else self.orientations[rows],
        )


class Canvases(DetectionSamples):
    """Images held in memory as one uint8 array, and their boxes.

    Args:
        pixels: ``(N, H, W)`` grey or ``(N, H, W, 3)`` RGB uint8 images.
        targets: Every sample's rows.
        name: How :meth:`sample_name` names a sample (``mnist_detection train canvas 17``).
    """

    def __init__(self, pixels: np.ndarray, targets: BoxTargets, name: str) -> None:
        sizes = np.tile(np.asarray(pixels.shape[1:3], dtype=np.int64), (len(pixels), 1))
        super().__init__(targets, sizes)
        self.pixels = pixels
        self.name = name

    def image(self, index: int) -> Any:
        from PIL import Image

        return Image.fromarray(self.pixels[index]).convert("RGB")

    def sample_name(self, index: int) -> str:
        return f"{self.name} canvas {index}"

    def subset(self, indices: np.ndarray) -> Canvases:
        rows = np.asarray(indices, dtype=np.int64)
        return Canvases(self.pixels[rows], self.targets.take(rows), self.name)
