"""Tiny image folders written with PIL for the dataset plugin tests: many formats and modes."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

#: (file name, PIL mode, size): JPEG and PNG in colour, grey, palette, RGBA, and odd sizes.
VARIETY = [
    ("a.jpg", "RGB", (20, 16)),
    ("b.PNG", "RGB", (16, 16)),
    ("c.png", "L", (12, 18)),
    ("d.gif", "P", (16, 16)),
    ("e.png", "RGBA", (24, 24)),
    ("f.JPEG", "L", (16, 20)),
    ("g.bmp", "RGB", (16, 16)),
    ("h.png", "P", (10, 14)),
]


def write_image(
    path: Path,
    mode: str = "RGB",
    size: tuple[int, int] = (16, 16),
    *,
    shade: int = 0,
    seed: int = 0,
) -> Path:
    """A noisy image around grey level ``shade`` (0..255) in ``mode``, saved by extension."""
    rng = np.random.default_rng(seed)
    width, height = size
    pixels = np.clip(rng.normal(shade, 30, (height, width, 3)), 0, 255).astype(np.uint8)
    image = Image.fromarray(pixels, "RGB")
    if mode == "P":
        image = image.quantize(16)
        image.info["transparency"] = 0
    elif mode != "RGB":
        image = image.convert(mode)
    path.parent.mkdir(parents=True, exist_ok=True)
    image.save(path)
    return path


def class_folder(
    root: Path, classes: dict[str, int], *, variety: bool = False, seed: int = 0
) -> Path:
    """``root/CLASS/NNN.png`` for each class, ``count`` images each, every class its own shade.

    ``variety``: each class also gets one image of every entry of :data:`VARIETY`.
    """
    for index, (name, count) in enumerate(sorted(classes.items())):
        shade = 40 + 170 * index // max(1, len(classes) - 1)
        for i in range(count):
            write_image(root / name / f"{i:03d}.png", shade=shade, seed=seed + 1000 * index + i)
        if variety:
            for file, mode, size in VARIETY:
                write_image(root / name / "more" / file, mode, size, shade=shade, seed=index)
    return root


def truncated_jpeg(path: Path) -> Path:
    """A JPEG cut in half: its header parses, its pixels do not."""
    write_image(path.with_suffix(".full.jpg"), size=(32, 32))
    data = path.with_suffix(".full.jpg").read_bytes()
    path.with_suffix(".full.jpg").unlink()
    path.write_bytes(data[: len(data) // 2])
    return path
