"""``voc``: Pascal VOC folders, one XML annotation per image.

Two layouts are recognised in each root: the VOC one (``JPEGImages/``, ``Annotations/``,
optional ``ImageSets/Main/{train,trainval,val,test}.txt`` lists of image ids) and a flat one
(``images/``, ``annotations/``); ``image_dir`` and ``annotation_dir`` name others. An XML's
image is its ``<filename>`` in the image folder, or else the image with the XML's stem.

Boxes: VOC writes 1-based inclusive pixel indices, so ``xmin..xmax`` covers the continuous
span ``[xmin - 1, xmax]``; divided by the image's real width (from its file's header, not the
XML's ``<size>``, which real files get wrong) that is the normalized box
(:mod:`~compressor_detection.datasets.faults`). ``xmin >= xmax`` (or ``ymin >= ymax``) is an
empty box. The default classes are the sorted names found in every given root's annotations.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path

from compressor.data import DataBundle
from compressor.errors import RecipeError
from compressor_detection.datasets import faults as F
from compressor_detection.datasets.annotated import Entry, Notes, RawObject, Rules, assemble
from compressor_detection.datasets.annotated import bundle as make_bundle
from compressor_detection.datasets.options import VocOptions

#: The (images, annotations) subfolders looked for, in order, when the options name none.
LAYOUTS = {"voc": ("JPEGImages", "Annotations"), "flat": ("images", "annotations")}
#: Image files an XML's stem may name, in order of preference.
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp", ".gif", ".ppm")


@dataclass(frozen=True)
class Layout:
    """One root's folders."""

    field: str
    images: Path
    annotations: Path
    lists: Path | None
    name: str


def load_voc(options: VocOptions, seed: int) -> DataBundle:
    """Load VOC folders as train/val/test datasets of ``(PIL RGB image, (M, 6) target)``.

    Args:
        options: The validated ``voc`` options.
        seed: The split seed (``data.split_seed``) of the splits cut by fractions.

    Returns:
        The ``detection`` bundle; its details count images and boxes per split, the faults
        skipped, and where annotations disagreed with their images.

    Raises:
        RecipeError: A folder is missing or has neither layout, a split is empty, or (with
            ``on_error: error``) an annotation is faulty: one line naming the file.
    """
    faults, notes = F.Faults(skip=options.on_error == "skip"), Notes()
    train = find_layout(Path(options.root), options, "data.options.root")
    parsed = {s: _entries(train, ids, faults) for s, ids in _split_ids(train, options).items()}
    fields = {s: train.field for s in parsed}
    for split, root in (("val", options.val_root), ("test", options.test_root)):
        if root is not None:
            layout = find_layout(Path(root), options, f"data.options.{split}_root")
            parsed[split] = _entries(layout, _all_ids(layout), faults)
            fields[split] = layout.field
    classes = options.classes or sorted(
        {obj[0] for entries in parsed.values() for e in entries for obj in e.objects} - {""}
    )
    if not classes:
        raise RecipeError(train.field, f"no annotation under {options.root} names an object")
    rules = Rules(
        classes,
        include_difficult=options.include_difficult,
        keep_empty=options.keep_empty,
        apply_exif=options.exif_orientation == "apply",
    )
    found = {split: assemble(entries, rules, faults, notes) for split, entries in parsed.items()}
    faults.check()
    details: dict[str, object] = {"layout": train.name, **notes.details()}
    if faults.skip:
        details["skipped"] = faults.skipped()
    return make_bundle("voc", found, fields, options, seed, classes, details)


def find_layout(root: Path, options: VocOptions, field: str) -> Layout:
    """The folders of ``root``: the options', or the VOC or flat layout found there.

    Raises:
        RecipeError: ``root`` is not a folder, or holds neither layout.
    """
    if not root.is_dir():
        what = "is a file, not a folder" if root.exists() else "not found"
        raise RecipeError(field, f"folder {what}: {root}", value=str(root))
    for name, (default_images, default_annotations) in LAYOUTS.items():
        images = options.image_dir or default_images
        annotations = options.annotation_dir or default_annotations
        if (root / images).is_dir() and (root / annotations).is_dir():
            lists = root / "ImageSets" / "Main"
            use_lists = options.image_sets and lists.is_dir()
            named = "custom" if options.image_dir or options.annotation_dir else name
            return Layout(
                field, root / images, root / annotations, lists if use_lists else None, named
            )
    held = sorted(p.name for p in root.iterdir() if p.is_dir())[:8]
    raise RecipeError(
        field,
        f"{root} has neither the VOC layout (JPEGImages/ and Annotations/) nor the flat one "
        f"(images/ and annotations/); it holds folders: {', '.join(held) or 'none'}; set "
        "data.options.image_dir and annotation_dir to name yours",
        value=str(root),
    )


def _all_ids(layout: Layout) -> list[str]:
    """The stem of every XML file in the annotation folder, sorted."""
    return sorted(p.stem for p in layout.annotations.glob("*.xml"))


def _read_list(path: Path) -> list[str]:
    """The image ids of an ImageSets list (the first word of each line)."""
    words = (line.split() for line in path.read_text(encoding="utf-8").splitlines())
    return [w[0] for w in words if w]


def _split_ids(layout: Layout, options: VocOptions) -> dict[str, list[str]]:
    """The ids of ``train`` and of the splits root's lists give (``val``, ``test``)."""
    lists = layout.lists
    if lists is None:
        return {"train": _all_ids(layout)}
    ids: dict[str, list[str]] = {}
    if (lists / "train.txt").is_file():
        ids["train"] = _read_list(lists / "train.txt")
        if (lists / "val.txt").is_file() and options.val_root is None:
            ids["val"] = _read_list(lists / "val.txt")
    elif (lists / "trainval.txt").is_file():
        # val.txt is part of trainval: the validation images are then a fraction of it.
        ids["train"] = _read_list(lists / "trainval.txt")
    else:
        ids["train"] = _all_ids(layout)
    if (lists / "test.txt").is_file() and options.test_root is None:
        ids["test"] = _read_list(lists / "test.txt")
    return ids


def _entries(layout: Layout, ids: list[str], faults: F.Faults) -> list[Entry]:
    """The parsed annotations of ``ids``; unreadable ones are recorded as faults."""
    images: dict[str, Path] = {}
    for path in sorted(layout.images.iterdir()):
        if path.suffix.lower() in IMAGE_SUFFIXES:
            images.setdefault(path.name, path)
            images.setdefault(path.stem, path)
    entries = []
    for image_id in ids:
        xml = layout.annotations / f"{image_id}.xml"
        if not xml.is_file():
            faults.add(F.ANNOTATION_MISSING, layout.field, f"{xml}: annotation file not found")
            continue
        try:
            entry = parse_xml(xml, layout.field)
        except (ET.ParseError, ValueError, UnicodeDecodeError) as error:
            text = " ".join(str(error).split())
            faults.add(F.ANNOTATION_MALFORMED, layout.field, f"{xml}: not a VOC XML file ({text})")
            continue
        named = entry.image.name
        found = images.get(named) or images.get(image_id) or images.get(Path(named).stem)
        entry.image = found or layout.images / (named or f"{image_id}.jpg")
        entries.append(entry)
    return entries


def parse_xml(path: Path, field: str) -> Entry:
    """One VOC XML file: its image's name, stated size and depth, and objects.

    Raises:
        ET.ParseError: The file is not XML.
        ValueError: Its root element is not ``<annotation>``.
    """
    root = ET.parse(path).getroot()
    if root.tag != "annotation":
        raise ValueError(f"root element <{root.tag}>, expected <annotation>")
    size = root.find("size")
    declared, depth = None, None
    if size is not None:
        width, height = _number(size, "width"), _number(size, "height")
        declared = (int(width), int(height)) if width and height else None
        stated = _number(size, "depth")
        depth = int(stated) if stated else None
    objects: list[RawObject] = []
    for ordinal, obj in enumerate(root.iter("object"), start=1):
        name = (obj.findtext("name") or "").strip()
        hard = (obj.findtext("difficult") or "0").strip() not in ("0", "", "false")
        objects.append((name, _box(obj.find("bndbox")), hard, ordinal))
    return Entry(
        image=Path((root.findtext("filename") or "").strip()),
        source=str(path),
        field=field,
        fmt=F.VOC_BOXES,
        objects=objects,
        declared=declared,
        declared_depth=depth,
    )


def _number(element: ET.Element, tag: str) -> float | None:
    """``element``'s ``<tag>`` as a number; ``None`` when absent, empty or not a number."""
    text = (element.findtext(tag) or "").strip()
    try:
        return float(text) if text else None
    except ValueError:
        return None  # a stated size is only compared with the image's; the image's counts


def _box(element: ET.Element | None) -> F.Raw | None:
    """A ``<bndbox>``'s four numbers, or ``None`` when it is missing or malformed."""
    if element is None:
        return None
    try:
        values = [
            float((element.findtext(t) or "").strip()) for t in ("xmin", "ymin", "xmax", "ymax")
        ]
    except ValueError:
        return None
    return (values[0], values[1], values[2], values[3])
