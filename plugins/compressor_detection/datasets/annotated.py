"""What ``voc`` and ``coco`` share once their files are parsed: images checked, boxes
normalized and checked, faults counted, splits cut by images, the bundle built.

A format's parser turns each annotated image into an :class:`Entry` (its image file, the
annotation that names it, its objects as the file writes them). :func:`assemble` reads every
image's header (:mod:`~compressor_detection.datasets.probe`), normalizes the boxes by the
image's real size and records the faults; :func:`bundle` fills the splits without their own
files from the training images and builds the :class:`~compressor.data.DataBundle`.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass, field
from pathlib import Path
from typing import cast

import numpy as np

from compressor import logs
from compressor.data import DataBundle, DataSplit, split_indices
from compressor.errors import RecipeError
from compressor_detection.datasets import faults as F
from compressor_detection.datasets.options import AnnotatedImagesOptions
from compressor_detection.datasets.probe import Probe, probe_all
from compressor_detection.datasets.samples import (
    SWAPPING_ORIENTATIONS,
    BoxTargets,
    DetectionFiles,
    pack_rows,
)

_log = logs.get_logger(__name__)

#: One object as its file writes it: class name, the four numbers (``None``: malformed),
#: difficult (or crowd), and its ordinal for messages (VOC's object number, COCO's id).
RawObject = tuple[str, F.Raw | None, bool, int]
SPLITS = ("train", "val", "test")


@dataclass
class Entry:
    """One annotated image, as parsed.

    Attributes:
        image: The image file.
        source: The annotation that names it, for messages (``Annotations/0001.xml``).
        field: The recipe field its faults name (``data.options.root``).
        fmt: How its boxes are written.
        objects: Its objects.
        declared: ``(width, height)`` the annotation states, if any.
        declared_depth: Channels the annotation states (VOC ``<depth>``: 1 grey, 3 colour).
        object_word: How messages name an object (``object``, ``annotation id``).
    """

    image: Path
    source: str
    field: str
    fmt: F.BoxFormat
    objects: list[RawObject]
    declared: tuple[int, int] | None = None
    declared_depth: int | None = None
    object_word: str = "object"


@dataclass
class Notes:
    """What loading found that is not a fault, for the bundle's details."""

    size_disagrees: int = 0
    size_example: str = ""
    depth_disagrees: int = 0
    depth_example: str = ""
    exif_tagged: int = 0
    left_out: dict[str, int] = field(default_factory=dict)

    def leave_out(self, why: str, count: int = 1) -> None:
        """Count ``count`` boxes or images left out on purpose (``difficult``, ``empty``)."""
        if count:
            self.left_out[why] = self.left_out.get(why, 0) + count

    def details(self) -> dict[str, object]:
        """The notes as details entries (only those that happened)."""
        out: dict[str, object] = {}
        if self.size_disagrees:
            out["annotation_size_disagrees"] = self.size_disagrees
            out["annotation_size_example"] = self.size_example
        if self.depth_disagrees:
            out["annotation_depth_disagrees"] = self.depth_disagrees
            out["annotation_depth_example"] = self.depth_example
        if self.exif_tagged:
            out["exif_oriented_images"] = self.exif_tagged
        if self.left_out:
            out["left_out"] = dict(sorted(self.left_out.items()))
        return out


@dataclass
class Rules:
    """How :func:`assemble` treats what it finds.

    Attributes:
        classes: The class names, in index order.
        dropped_classes: Names that are valid but not kept (COCO categories outside
            ``classes``): their boxes are left out silently, not faults.
        include_difficult: Keep difficult (crowd) boxes flagged rather than leave them out.
        difficult_word: How the details name left-out difficult boxes (``difficult``, ``crowd``).
        keep_empty: Keep images left with no boxes.
        apply_exif: Serve images rotated by their EXIF orientation.
    """

    classes: list[str]
    dropped_classes: Collection[str] = ()
    include_difficult: bool = True
    difficult_word: str = "difficult"
    keep_empty: bool = True
    apply_exif: bool = False


def assemble(entries: list[Entry], rules: Rules, faults: F.Faults, notes: Notes) -> DetectionFiles:
    """The dataset of ``entries``: images read, boxes normalized, faulty ones left out.

    Faults are recorded in ``faults`` (which raises later, when ``on_error`` is ``error``).
    """
    index = {name: i for i, name in enumerate(rules.classes)}
    probes = probe_all([e.image for e in entries])
    paths: list[Path] = []
    rows: list[np.ndarray] = []
    sizes: list[tuple[int, int]] = []
    orientations: list[int] = []
    for entry, probe in zip(entries, probes, strict=True):
        if probe.error is not None:
            fault = F.IMAGE_MISSING if probe.missing else F.IMAGE_UNREADABLE
            what = "not found" if probe.missing else f"cannot be read ({probe.error})"
            faults.add(fault, entry.field, f"{entry.image}: the image {what}; {entry.source}")
            continue
        width, height = _served_size(probe, rules.apply_exif)
        _note_declared(entry, probe, (width, height), notes)
        image_rows = _rows(entry, (width, height), index, rules, faults, notes)
        if len(image_rows) == 0 and not rules.keep_empty:
            notes.leave_out("images without boxes")
            continue
        paths.append(entry.image)
        rows.append(image_rows)
        sizes.append((height, width))
        orientations.append(probe.orientation)
    flat, offsets = pack_rows(rows)
    return DetectionFiles(
        paths,
        BoxTargets(flat, offsets),
        np.asarray(sizes, dtype=np.int64).reshape(-1, 2),
        np.asarray(orientations, dtype=np.uint8) if rules.apply_exif else None,
    )


def _served_size(probe: Probe, apply_exif: bool) -> tuple[int, int]:
    """``(width, height)`` of the image as served: rotated when its EXIF tag is applied."""
    if apply_exif and probe.orientation in SWAPPING_ORIENTATIONS:
        return probe.height, probe.width
    return probe.width, probe.height


def _note_declared(entry: Entry, probe: Probe, size: tuple[int, int], notes: Notes) -> None:
    """Count the annotation's stated size and depth where the file says otherwise."""
    if probe.orientation > 1:
        notes.exif_tagged += 1
    if entry.declared is not None and entry.declared != size:
        notes.size_disagrees += 1
        if not notes.size_example:
            notes.size_example = (
                f"{entry.source} says {entry.declared[0]}x{entry.declared[1]}, the image is "
                f"{size[0]}x{size[1]} (boxes are normalized by the image's own size)"
            )
            _log.warning("%s", notes.size_example)
    if entry.declared_depth is not None and (entry.declared_depth == 1) != probe.grey:
        notes.depth_disagrees += 1
        if not notes.depth_example:
            notes.depth_example = (
                f"{entry.source} says depth {entry.declared_depth}, the image is "
                f"{'grey' if probe.grey else 'colour'} (every image is served as RGB)"
            )


def _rows(
    entry: Entry,
    size: tuple[int, int],
    index: dict[str, int],
    rules: Rules,
    faults: F.Faults,
    notes: Notes,
) -> np.ndarray:
    """One image's target rows: each object checked, the faulty ones recorded and left out."""
    width, height = size
    classes: list[int] = []
    corners: list[F.Raw] = []
    difficult: list[bool] = []
    for name, raw, hard, ordinal in entry.objects:
        where = f"{entry.source}: {entry.object_word} {ordinal} ({name!r})"
        if name not in index:
            if name in rules.dropped_classes:
                notes.leave_out("boxes of classes not listed")
            else:
                listed = ", ".join(rules.classes[:12]) + (", ..." if len(index) > 12 else "")
                faults.add(
                    F.UNKNOWN_CLASS,
                    entry.field,
                    f"{where}: unknown class (data.options.classes: {listed})",
                )
            continue
        if raw is None:
            faults.add(
                F.BOX_MALFORMED, entry.field, f"{where}: malformed box: missing or not 4 numbers"
            )
            continue
        fault, box = F.normalized_box(entry.fmt, raw, width, height)
        if fault is not None:
            detail = f"{entry.fmt.show(raw)} on the {width}x{height} image"
            if fault == F.BOX_OUTSIDE:
                detail += f", more than {F.TOLERANCE_PX:g} pixel beyond its edge"
            faults.add(fault, entry.field, f"{where}: {fault}: {detail}")
            continue
        if hard and not rules.include_difficult:
            notes.leave_out(f"{rules.difficult_word} boxes")
            continue
        classes.append(index[name])
        corners.append(box)
        difficult.append(hard)
    return F.as_rows(classes, corners, difficult)


def bundle(
    name: str,
    found: dict[str, DetectionFiles],
    fields: dict[str, str],
    options: AnnotatedImagesOptions,
    seed: int,
    classes: list[str],
    details: dict[str, object],
) -> DataBundle:
    """The bundle: splits without their own images cut from ``found["train"]`` by images.

    Args:
        name: The dataset's registered name.
        found: ``train`` and the splits that had their own images.
        fields: The recipe field naming each split of ``found`` (for errors).
        options: The fractions.
        seed: ``data.split_seed``.
        classes: The class names.
        details: What loading reports; the split sizes are added.

    Raises:
        RecipeError: A split is left with no images.
    """
    splits = cut_missing(found, options.val_fraction, options.test_fraction, seed)
    for split, data in splits.items():
        if len(data) == 0:
            raise RecipeError(
                fields.get(split, f"data.options.{split}_fraction"),
                f"the {split} split has no images ({len(found['train'])} training images left "
                "after the checks); give more images, or a larger fraction",
            )
    # The image counts are the bundle's split sizes, which metrics.json shows already.
    details = {**details, "boxes": {s: len(d.targets.rows) for s, d in splits.items()}}
    return DataBundle(
        name=name,
        train=cast(DataSplit, splits["train"]),
        val=cast(DataSplit, splits["val"]),
        test=cast(DataSplit, splits["test"]),
        num_classes=len(classes),
        class_names=list(classes),
        details=details,
        task="detection",
        modality="image",
    )


def cut_missing(
    found: dict[str, DetectionFiles], val_fraction: float, test_fraction: float, seed: int
) -> dict[str, DetectionFiles]:
    """Every split: its own images, or its fraction of the training images (a seeded split
    by images: the same seed and images give the same split)."""
    missing = [s for s in ("val", "test") if s not in found]
    if not missing:
        return dict(found)
    fractions = [val_fraction if s == "val" else test_fraction for s in missing]
    train = found["train"]
    parts = split_indices(len(train), [1.0 - sum(fractions), *fractions], seed)
    splits = dict(found)
    for split, part in zip(["train", *missing], parts, strict=True):
        splits[split] = train.subset(np.sort(part.numpy()))
    return {s: splits[s] for s in SPLITS}
