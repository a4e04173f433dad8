"""Tiny VOC and COCO datasets written by the tests: PIL images of varied sizes and modes, with
their XML or JSON annotations."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

#: One object: (class name, (xmin, ymin, xmax, ymax) as VOC writes it, difficult).
VocObject = tuple[str, tuple[float, float, float, float], int]


def write_image(path: Path, size: tuple[int, int], mode: str = "RGB", seed: int = 0) -> Path:
    """A noisy ``size`` (width, height) image in ``mode``, saved by its extension."""
    width, height = size
    rng = np.random.default_rng(seed)
    image = Image.fromarray(rng.integers(0, 256, (height, width, 3), dtype=np.uint8), "RGB")
    if mode == "P":
        image = image.quantize(16)
    elif mode != "RGB":
        image = image.convert(mode)
    path.parent.mkdir(parents=True, exist_ok=True)
    image.save(path)
    return path


def voc_xml(
    filename: str,
    objects: list[VocObject],
    size: tuple[int, int] | None = None,
    depth: int | None = 3,
) -> str:
    """A VOC annotation's XML text (``size`` is what the XML states, right or wrong)."""
    parts = [f"<annotation><folder>VOC</folder><filename>{filename}</filename>"]
    if size is not None:
        parts.append(f"<size><width>{size[0]}</width><height>{size[1]}</height>")
        parts.append(f"<depth>{depth}</depth></size>" if depth is not None else "</size>")
    for name, (x1, y1, x2, y2), difficult in objects:
        parts.append(
            f"<object><name>{name}</name><pose>Unspecified</pose><truncated>0</truncated>"
            f"<difficult>{difficult}</difficult><bndbox><xmin>{x1}</xmin><ymin>{y1}</ymin>"
            f"<xmax>{x2}</xmax><ymax>{y2}</ymax></bndbox></object>"
        )
    parts.append("</annotation>")
    return "".join(parts)


def voc_image(
    root: Path,
    stem: str,
    size: tuple[int, int],
    objects: list[VocObject],
    *,
    mode: str = "RGB",
    suffix: str = ".jpg",
    layout: tuple[str, str] = ("JPEGImages", "Annotations"),
    stated: tuple[int, int] | None = None,
    depth: int | None = 3,
) -> Path:
    """One image and its XML in ``root`` (``stated``: the size the XML gives; default the
    real one)."""
    image = write_image(root / layout[0] / f"{stem}{suffix}", size, mode, seed=len(stem))
    xml = root / layout[1] / f"{stem}.xml"
    xml.parent.mkdir(parents=True, exist_ok=True)
    xml.write_text(voc_xml(image.name, objects, stated or size, depth), encoding="utf-8")
    return xml


def small_voc(
    root: Path, count: int = 10, *, layout: tuple[str, str] = ("JPEGImages", "Annotations")
) -> Path:
    """``count`` valid images of varied sizes and modes with one to three objects each."""
    modes = ["RGB", "L", "P", "RGBA", "CMYK"]
    for i in range(count):
        width, height = 20 + 4 * i, 60 - 3 * i
        objects: list[VocObject] = [("dog", (1, 1, width // 2, height // 2), 0)]
        if i % 2:
            objects.append(("cat", (width // 2, height // 3, width, height), i % 4 == 1))
        if i % 3 == 0:
            objects.append(("bird", (3, height // 2, width // 3, height - 2), 0))
        mode = modes[i % len(modes)]
        suffix = ".jpg" if mode in ("RGB", "L", "CMYK") else ".png"
        depth = 1 if mode == "L" else 3
        voc_image(
            root,
            f"{i:06d}",
            (width, height),
            objects,
            mode=mode,
            suffix=suffix,
            layout=layout,
            depth=depth,
        )
    return root


def coco_document(
    images: list[dict[str, Any]],
    annotations: list[dict[str, Any]],
    categories: list[tuple[int, str]],
) -> dict[str, Any]:
    """A COCO instances document."""
    return {
        "info": {"description": "test"},
        "images": images,
        "annotations": annotations,
        "categories": [{"id": i, "name": n, "supercategory": "x"} for i, n in categories],
    }


def small_coco(root: Path, count: int = 10) -> tuple[Path, Path]:
    """``count`` images in ``root/images`` and ``root/instances.json`` with category ids 1, 3
    and 7 (non-contiguous); every third image has no annotation; one crowd box."""
    images, annotations = [], []
    next_id = 100
    for i in range(count):
        width, height = 24 + 3 * i, 50 - 2 * i
        png = i % 2 == 1
        name = f"img{i:03d}.{'png' if png else 'jpg'}"
        mode = ["RGBA", "P", "L"][i % 3] if png else ["RGB", "L", "CMYK"][i % 3]
        write_image(root / "images" / name, (width, height), mode, seed=i)
        images.append({"id": 10 + i, "file_name": name, "width": width, "height": height})
        if i % 3 == 2:
            continue
        for category, box in ((7, [0, 0, width / 2, height / 2]), (1, [2.5, 3, 10, 12])):
            annotations.append(
                {
                    "id": next_id,
                    "image_id": 10 + i,
                    "category_id": category,
                    "bbox": box,
                    "area": box[2] * box[3],
                    "iscrowd": int(i == 4 and category == 1),
                }
            )
            next_id += 1
    document = coco_document(images, annotations, [(7, "zebra"), (1, "person"), (3, "car")])
    path = root / "instances.json"
    path.write_text(json.dumps(document), encoding="utf-8")
    return path, root / "images"
