"""``coco``: a COCO instances JSON file and its folder of images.

Boxes are ``[x, y, w, h]`` in continuous pixels, so ``[x / W, y / H, (x + w) / W, (y + h) / H]``
normalized by the image's real size (from its file's header; the JSON's ``width`` and
``height`` are compared with it and counted where they differ). Category ids need not be
contiguous: the classes are the categories in id order (indices 0, 1, ...), or the names
``classes`` lists, in its order, whose other categories' boxes are left out. Crowd boxes
(``iscrowd: 1``) are kept flagged difficult, as COCO's evaluation ignores them. Images without
annotations are kept, with no targets (``keep_empty``).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from compressor.data import DataBundle
from compressor.errors import RecipeError
from compressor_detection.datasets import faults as F
from compressor_detection.datasets.annotated import Entry, Notes, RawObject, Rules, assemble
from compressor_detection.datasets.annotated import bundle as make_bundle
from compressor_detection.datasets.options import CocoOptions


def load_coco(options: CocoOptions, seed: int) -> DataBundle:
    """Load COCO JSON files as train/val/test datasets of ``(PIL RGB image, (M, 6) target)``.

    Args:
        options: The validated ``coco`` options.
        seed: The split seed (``data.split_seed``) of the splits cut by fractions.

    Returns:
        The ``detection`` bundle; its details count images and boxes per split, the faults
        skipped, and where the JSON disagreed with the images.

    Raises:
        RecipeError: A file is missing or not COCO JSON, a listed class is not a category, a
            split is empty, or (with ``on_error: error``) an annotation is faulty.
    """
    faults, notes = F.Faults(skip=options.on_error == "skip"), Notes()
    field = "data.options.annotations"
    document = read_json(Path(options.annotations), field)
    names = category_names(document, options.annotations, field)
    by_id = [names[i] for i in sorted(names)]
    classes = options.classes or by_id
    unknown = [name for name in classes if name not in by_id]
    if unknown:
        raise RecipeError(
            "data.options.classes",
            f"{unknown[0]!r} is not a category of {options.annotations}",
            value=unknown[0],
            choices=by_id,
        )
    parsed = {
        "train": _entries(document, names, Path(options.images), options.annotations, field, faults)
    }
    fields = {"train": field}
    for split in ("val", "test"):
        path = getattr(options, f"{split}_annotations")
        if path is not None:
            fields[split] = f"data.options.{split}_annotations"
            doc = read_json(Path(path), fields[split])
            folder = Path(getattr(options, f"{split}_images") or options.images)
            own = category_names(doc, path, fields[split])
            parsed[split] = _entries(doc, own, folder, path, fields[split], faults)
    rules = Rules(
        classes,
        dropped_classes=set(by_id) - set(classes),
        include_difficult=options.include_crowd,
        difficult_word="crowd",
        keep_empty=options.keep_empty,
        apply_exif=options.exif_orientation == "apply",
    )
    found = {split: assemble(entries, rules, faults, notes) for split, entries in parsed.items()}
    faults.check()
    details: dict[str, object] = dict(notes.details())
    if faults.skip:
        details["skipped"] = faults.skipped()
    return make_bundle("coco", found, fields, options, seed, classes, details)


def read_json(path: Path, field: str) -> dict[str, Any]:
    """The JSON object in ``path``.

    Raises:
        RecipeError: The file is missing, is not JSON, or holds no object.
    """
    if not path.is_file():
        raise RecipeError(field, f"file not found: {path}", value=str(path))
    try:
        with path.open("rb") as handle:
            document = json.load(handle)
    except json.JSONDecodeError as error:
        raise RecipeError(
            field, f"{path}: not valid JSON (line {error.lineno} column {error.colno}: {error.msg})"
        ) from None
    except (OSError, UnicodeDecodeError) as error:
        raise RecipeError(field, f"{path}: cannot be read ({error})") from None
    if not isinstance(document, dict) or not isinstance(document.get("images"), list):
        raise RecipeError(
            field, f"{path}: not a COCO instances file (no 'images' list at the top level)"
        )
    return document


def category_names(document: Mapping[str, Any], path: str, field: str) -> dict[int, str]:
    """The categories of a COCO document, id -> name.

    Raises:
        RecipeError: There are none, one is malformed, or two share an id or a name.
    """
    categories = document.get("categories")
    if not isinstance(categories, list) or not categories:
        raise RecipeError(field, f"{path}: no 'categories' list; COCO files name their classes")
    names: dict[int, str] = {}
    for position, category in enumerate(categories):
        try:
            category_id, name = int(category["id"]), str(category["name"])
        except (KeyError, TypeError, ValueError):
            raise RecipeError(
                field, f"{path}: categories[{position}] needs an integer id and a name"
            ) from None
        if category_id in names or name in names.values():
            raise RecipeError(
                field,
                f"{path}: categories[{position}] ({category_id}, {name!r}) repeats an id or a "
                "name of another category",
            )
        names[category_id] = name
    return names


def _entries(
    document: Mapping[str, Any],
    names: dict[int, str],
    folder: Path,
    path: str,
    field: str,
    faults: F.Faults,
) -> list[Entry]:
    """One entry per image of ``document`` (the file ``path``), with its annotations; faults
    recorded."""
    entries: dict[Any, Entry] = {}
    for position, image in enumerate(document["images"]):
        try:
            image_id, file_name = image["id"], str(image["file_name"])
        except (KeyError, TypeError):
            faults.add(
                F.ANNOTATION_MALFORMED, field, f"{path}: images[{position}] has no id or file_name"
            )
            continue
        entries[image_id] = Entry(
            image=folder / file_name,
            source=f"{path} image id {image_id} ({file_name})",
            field=field,
            fmt=F.COCO_BOXES,
            objects=[],
            declared=_declared(image),
            object_word="annotation id",
        )
    annotations = document.get("annotations") or []
    for position, annotation in enumerate(annotations):
        entry = entries.get(annotation.get("image_id")) if isinstance(annotation, dict) else None
        if entry is None:
            image_id = annotation.get("image_id") if isinstance(annotation, dict) else None
            faults.add(
                F.UNKNOWN_IMAGE,
                field,
                f"{path}: annotations[{position}]: {F.UNKNOWN_IMAGE}: image_id {image_id!r} is "
                "not among the file's images",
            )
            continue
        entry.objects.append(_object(annotation, names, position))
    return list(entries.values())


def _declared(image: Mapping[str, Any]) -> tuple[int, int] | None:
    """The ``(width, height)`` an image entry states, when it states numbers."""
    try:
        return (int(image["width"]), int(image["height"]))
    except (KeyError, TypeError, ValueError):
        return None


def _object(annotation: Mapping[str, Any], names: dict[int, str], position: int) -> RawObject:
    """One annotation as a raw object: class name, ``[x, y, w, h]``, crowd, its id."""
    category = annotation.get("category_id")
    name = names.get(category) if isinstance(category, int) else None
    name = name if name is not None else f"category_id {category!r}"
    box = annotation.get("bbox")
    raw: F.Raw | None = None
    if isinstance(box, (list, tuple)) and len(box) == 4:
        try:
            raw = (float(box[0]), float(box[1]), float(box[2]), float(box[3]))
        except (TypeError, ValueError):
            raw = None
    ordinal = annotation.get("id", position)
    crowd = bool(annotation.get("iscrowd", 0))
    return (name, raw, crowd, ordinal if isinstance(ordinal, int) else position)
