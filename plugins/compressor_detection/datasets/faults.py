"""Bad annotations: the faults, the box checks, and what ``on_error`` does with them.

A fault is either a box's (left out alone under ``on_error: skip``) or an image's (the image
is left out). Loading collects every fault, then either raises the first as one line naming
its file (with the count of the others) or reports the counts by fault in the bundle's details.

Boxes reach the checks as corners in **continuous pixel coordinates**: the image spans
``[0, W] x [0, H]``, pixel column ``i`` (0-based) covers ``[i, i + 1]``. Each format says how its
numbers map there (:class:`BoxFormat`): VOC's 1-based inclusive pixel indices
``xmin..xmax`` cover ``[xmin - 1, xmax]`` (as Detectron2 reads them); COCO's ``[x, y, w, h]`` is
``[x, x + w]`` already. A corner up to :data:`TOLERANCE_PX` beyond the image is clipped to it
(annotation tools round), further is a fault.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from compressor.errors import RecipeError

#: How far (pixels) a box corner may lie beyond the image before it is a fault; it is clipped.
TOLERANCE_PX = 1.0

BOX_OUTSIDE = "box outside the image"
BOX_EMPTY = "empty or inverted box"
BOX_MALFORMED = "malformed box"
UNKNOWN_CLASS = "unknown class"
UNKNOWN_IMAGE = "annotation of an unknown image"
IMAGE_MISSING = "missing image"
IMAGE_UNREADABLE = "unreadable image"
ANNOTATION_MALFORMED = "malformed annotation file"
ANNOTATION_MISSING = "missing annotation file"

Raw = tuple[float, float, float, float]


@dataclass(frozen=True)
class BoxFormat:
    """How one annotation format writes a box.

    Attributes:
        name: ``voc`` (``xmin, ymin, xmax, ymax``: 1-based inclusive pixel indices) or
            ``coco`` (``x, y, w, h`` in continuous pixels).
    """

    name: str

    def empty(self, raw: Raw) -> bool:
        """Whether the box has no extent (or is inverted) as written."""
        a, b, c, d = raw
        if self.name == "voc":
            return a >= c or b >= d
        return c <= 0 or d <= 0

    def corners(self, raw: Raw) -> Raw:
        """The box's corners ``(x1, y1, x2, y2)`` in continuous pixels (module docstring)."""
        a, b, c, d = raw
        if self.name == "voc":
            return (a - 1.0, b - 1.0, c, d)
        return (a, b, a + c, b + d)

    def show(self, raw: Raw) -> str:
        """The box as its file writes it, for messages."""
        a, b, c, d = raw
        if self.name == "voc":
            return f"xmin {a:g}, ymin {b:g}, xmax {c:g}, ymax {d:g}"
        return f"bbox [{a:g}, {b:g}, {c:g}, {d:g}]"


VOC_BOXES = BoxFormat("voc")
COCO_BOXES = BoxFormat("coco")


def normalized_box(fmt: BoxFormat, raw: Raw, width: int, height: int) -> tuple[str | None, Raw]:
    """One box checked against its image and normalized to 0..1 of its width and height.

    Args:
        fmt: The annotation format.
        raw: The four numbers as the file writes them.
        width: The image's actual width (pixels, from its file).
        height: The image's actual height.

    Returns:
        ``(fault, corners)``: the fault (:data:`BOX_MALFORMED` for a number that is not
        finite, :data:`BOX_EMPTY`, :data:`BOX_OUTSIDE`) or ``None``,
        and ``(x1, y1, x2, y2)`` clipped to the image and divided by ``(W, H, W, H)``.
    """
    if not all(math.isfinite(v) for v in raw):
        return BOX_MALFORMED, raw
    if fmt.empty(raw):
        return BOX_EMPTY, raw
    x1, y1, x2, y2 = fmt.corners(raw)
    tol = TOLERANCE_PX
    if x1 < -tol or y1 < -tol or x2 > width + tol or y2 > height + tol:
        return BOX_OUTSIDE, raw
    x1, x2 = min(max(x1, 0.0), width), min(max(x2, 0.0), width)
    y1, y2 = min(max(y1, 0.0), height), min(max(y2, 0.0), height)
    if x2 <= x1 or y2 <= y1:  # only the part beyond the edge was there
        return BOX_OUTSIDE, raw
    return None, (x1 / width, y1 / height, x2 / width, y2 / height)


@dataclass
class Faults:
    """The faults found while loading, and what ``on_error`` makes of them.

    Args:
        skip: ``on_error: skip``: count faults; otherwise :meth:`check` raises the first.
    """

    skip: bool
    counts: dict[str, int] = field(default_factory=dict)
    first: tuple[str, str] | None = None

    def add(self, fault: str, recipe_field: str, message: str) -> None:
        """Record one fault: ``message`` names the file and says what is wrong (one line)."""
        self.counts[fault] = self.counts.get(fault, 0) + 1
        if self.first is None:
            self.first = (recipe_field, message)

    def check(self) -> None:
        """Raise the first fault as a :class:`RecipeError`, unless faults are skipped.

        Raises:
            RecipeError: A fault was found and ``on_error`` is ``error``; the message is the
                first fault's, with the counts of all of them.
        """
        if self.skip or self.first is None:
            return
        recipe_field, message = self.first
        total = sum(self.counts.values())
        more = ""
        if total > 1:
            listed = ", ".join(f"{n} {fault}" for fault, n in sorted(self.counts.items()))
            more = f" ({total} faults in all: {listed})"
        raise RecipeError(
            recipe_field,
            f"{message}{more}; fix the annotations, or set data.options.on_error: skip to leave "
            "such boxes and images out",
        )

    def skipped(self) -> dict[str, int]:
        """The counts by fault, for the bundle's details (sorted by fault)."""
        return dict(sorted(self.counts.items()))


def as_rows(classes: list[int], corners: list[Raw], difficult: list[bool]) -> np.ndarray:
    """One image's target rows ``[class, x1, y1, x2, y2, difficult]``, float32 ``(M, 6)``."""
    rows = np.zeros((len(classes), 6), dtype=np.float32)
    if classes:
        rows[:, 0] = classes
        rows[:, 1:5] = np.asarray(corners, dtype=np.float64)
        rows[:, 5] = difficult
    return rows
