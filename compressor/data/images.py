"""Image files as a dataset: finding them, checking them cheaply, reading them with channels.

:class:`ImageFiles` is a map-style dataset of ``(PIL image, label)`` over a list of files, the
raw form the run streams or holds in memory (:func:`compressor.data.prepare_bundle`). Its paths
(one byte buffer) and labels are numpy arrays, not Python lists (see :mod:`compressor.data.streamed` on why
workers grow otherwise), it names its samples by file (``sample_name``), and it has
``targets``, so the run knows every label without decoding an image.

:func:`unreadable` is the check a dataset makes when it loads: every file's header is parsed
(PIL reads a few bytes), and a JPEG or PNG whose end marker is missing, the usual sign of a
truncated copy, is decoded to be sure. A whole pass of decoding is what it avoids.
PIL is imported inside the functions: the plugin hook modules import nothing heavy.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from torch.utils.data import Dataset

#: The extensions PIL reads that image folders usually hold (matched case-insensitively).
IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".gif", ".tif", ".tiff", ".webp", ".ppm")
#: The PIL mode of each ``channels`` value a dataset option accepts.
MODES = {3: "RGB", 1: "L"}
#: How far from a file's end its end marker may sit (some writers pad the last bytes).
TRAILER_SLACK = 64


def image_files(root: Path, extensions: Iterable[str], *, recursive: bool) -> list[Path]:
    """The image files in ``root`` (and its subfolders when ``recursive``), sorted.

    Args:
        root: The folder.
        extensions: Suffixes to keep, such as ``.jpg``; compared case-insensitively.
        recursive: Also look in every subfolder, at any depth.

    Returns:
        The files, sorted by path, so that the same folder always gives the same order.
    """
    suffixes = {e.lower() if e.startswith(".") else f".{e.lower()}" for e in extensions}
    found = root.rglob("*") if recursive else root.iterdir()
    return sorted(p for p in found if p.suffix.lower() in suffixes and p.is_file())


def truncated(path: Path, image_format: str | None) -> bool:
    """Whether a JPEG or PNG lacks its end marker near the end of the file."""
    marker = {"JPEG": b"\xff\xd9", "PNG": b"IEND"}.get(image_format or "")
    if marker is None:
        return False
    with path.open("rb") as handle:
        handle.seek(0, 2)
        size = handle.tell()
        handle.seek(max(0, size - TRAILER_SLACK))
        return marker not in handle.read()


def unreadable(path: Path) -> str | None:
    """Why ``path`` cannot be read as an image, or ``None`` when it can.

    The header is parsed; a JPEG or PNG without its end marker is decoded whole, since a
    truncated file parses fine until its pixels are read.
    """
    from PIL import Image

    try:
        with Image.open(path) as image:
            if truncated(path, image.format):
                image.load()
    except Exception as error:  # noqa: BLE001 - any failure to read is the answer
        text = " ".join(str(error).split()) or type(error).__name__
        return f"{type(error).__name__}: {text}"
    return None


def read_image(path: str | Path, channels: int | None) -> Any:
    """The image at ``path`` as a PIL image, converted to ``channels`` channels.

    Args:
        path: The file.
        channels: 3 (RGB) or 1 (grey), see :func:`convert`; ``None`` keeps the file's mode.

    Returns:
        The decoded image (its pixels loaded, its file closed).
    """
    from PIL import Image

    with Image.open(path) as image:
        image.load()
        return convert(image, channels)


def convert(image: Any, channels: int | None) -> Any:
    """``image`` (a PIL image) with ``channels`` channels: 3 (RGB), 1 (grey) or ``None`` (as
    it is). Grey, palette, CMYK and RGBA images go through PIL's ``convert``; alpha is
    dropped, and a palette with a transparent colour goes through RGBA first, as PIL asks."""
    if channels is None:
        return image
    mode = MODES[channels]
    if image.mode == mode:
        return image
    if image.mode == "P" and "transparency" in image.info:
        image = image.convert("RGBA")
    return image.convert(mode)


class ImageFiles(Dataset[tuple[Any, int]]):
    """Image files with their labels: items are ``(PIL image, label)``.

    The paths are held as one byte buffer and an array of offsets: no Python object per file
    (which every worker would copy as it reads it) and a byte per character, not the four of a
    numpy string array.

    Args:
        paths: One file per sample.
        labels: One label per sample (``-1`` for unlabeled data).
        channels: What each image is converted to: 3, 1, or ``None`` for the file's own mode.
    """

    def __init__(
        self,
        paths: Sequence[str | Path],
        labels: Sequence[int] | np.ndarray,
        *,
        channels: int | None = 3,
    ) -> None:
        encoded = [os.fsencode(str(p)) for p in paths]
        self._ends = np.cumsum([len(e) for e in encoded], dtype=np.int64)
        self._blob = np.frombuffer(b"".join(encoded), dtype=np.uint8)
        self.targets = np.asarray(labels, dtype=np.int64)
        if len(encoded) != len(self.targets):
            raise ValueError(f"{len(encoded)} paths but {len(self.targets)} labels")
        self.channels = channels

    def __len__(self) -> int:
        return len(self.targets)

    def __getitem__(self, index: int) -> tuple[Any, int]:
        return read_image(self.path(index), self.channels), int(self.targets[index])

    def path(self, index: int) -> str:
        """The file of sample ``index``."""
        end = int(self._ends[index])
        start = int(self._ends[index - 1]) if index > 0 else 0
        return os.fsdecode(self._blob[start:end].tobytes())

    @property
    def paths(self) -> list[str]:
        """Every file, in order (built on each call: for inspection, not for loading)."""
        return [self.path(i) for i in range(len(self))]

    def sample_name(self, index: int) -> str:
        """The file of sample ``index``, as errors name it."""
        return self.path(index)
