"""What an image file's header says: its size, colour and EXIF orientation, without decoding.

PIL's ``Image.open`` reads the header alone. The boxes are normalized by these sizes, not by
the annotation's (VOC XML ``<size>``, COCO ``width``/``height``), which real files get wrong.
A JPEG or PNG whose end marker is missing, the usual sign of a truncated copy, is decoded to
be sure it can be read (as :func:`compressor.data.images.unreadable` does).
"""

from __future__ import annotations

from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from compressor.data.images import truncated

#: Threads that read headers: opening files waits on the disk far more than on Python.
PROBE_THREADS = 8
#: The EXIF tag of the orientation.
ORIENTATION_TAG = 0x0112
#: PIL modes of grey pixels (what VOC's ``<depth>1</depth>`` means).
GREY_MODES = ("1", "L", "LA", "La", "I", "I;16", "I;16B", "I;16L", "F")


@dataclass(frozen=True)
class Probe:
    """One image file's header.

    Attributes:
        height: Rows of the stored pixels (0 when unreadable).
        width: Columns of the stored pixels.
        grey: Whether the stored pixels are grey (one channel, not a palette).
        orientation: The EXIF orientation tag (1..8), 0 when there is none.
        error: Why the file cannot be read, or ``None``.
        missing: Whether the file does not exist.
    """

    height: int = 0
    width: int = 0
    grey: bool = False
    orientation: int = 0
    error: str | None = None
    missing: bool = False


def probe(path: Path) -> Probe:
    """Read ``path``'s header (and decode it when it looks truncated)."""
    from PIL import Image

    if not path.is_file():
        return Probe(error="no such file", missing=True)
    try:
        with Image.open(path) as image:
            if truncated(path, image.format):
                image.load()
            orientation = int(image.getexif().get(ORIENTATION_TAG, 0) or 0)
            width, height = image.size
            grey = image.mode in GREY_MODES
    except Exception as error:  # noqa: BLE001 - any failure to read is the answer
        text = " ".join(str(error).split()) or type(error).__name__
        return Probe(error=f"{type(error).__name__}: {text}")
    return Probe(height=height, width=width, grey=grey, orientation=orientation)


def probe_all(paths: Sequence[Path]) -> list[Probe]:
    """:func:`probe` of every path, in order, read by a few threads."""
    with ThreadPoolExecutor(PROBE_THREADS) as pool:
        return list(pool.map(probe, paths))
