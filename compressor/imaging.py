"""The image steps training and serving share, with PIL and numpy alone (no torch).

A model is served on image files by :class:`compressor.onnx.deployment.Deployment` (``compressor
predict``, which must not import torch) and trained on what
:class:`compressor.data.Preprocessing` makes of each sample. Resizing is where two
implementations part: torchvision's antialiased uint8 resize and PIL's differ by up to five
grey levels with ``bicubic`` on RGB images, and torchvision's ``nearest`` takes another pixel
than PIL's altogether (``floor(i * scale)`` against the pixel whose centre is nearest). So a
PIL image is resized here, by both: :func:`resize_image`. Samples that are arrays or tensors are
resized by torchvision, with ``nearest-exact`` for ``nearest`` (PIL's rule).

PIL is imported inside the functions: importing this module costs nothing.
"""

from __future__ import annotations

from typing import Any

#: The PIL modes :func:`resize_image` resizes (what image files become for a model: grey or RGB).
RESIZED_MODES = ("L", "RGB")


def resized_size(size: tuple[int, int], resize: list[int] | tuple[int, ...]) -> tuple[int, int]:
    """PIL's ``(width, height)`` after ``resize``, torchvision's rule.

    Args:
        size: The image's PIL ``(width, height)``.
        resize: One number sizes the shorter side, keeping the aspect ratio (the longer side
            truncated, as torchvision does); two are ``(height, width)``.
    """
    width, height = size
    if len(resize) == 2:
        return int(resize[1]), int(resize[0])
    short, long = (width, height) if width <= height else (height, width)
    new_short, new_long = int(resize[0]), int(int(resize[0]) * long / short)
    return (new_short, new_long) if width <= height else (new_long, new_short)


def pil_filter(interpolation: str) -> Any:
    """PIL's resampling filter for ``nearest``, ``bilinear`` or ``bicubic``."""
    from PIL import Image

    return {
        "nearest": Image.Resampling.NEAREST,
        "bilinear": Image.Resampling.BILINEAR,
        "bicubic": Image.Resampling.BICUBIC,
    }[interpolation]


def resize_image(image: Any, resize: list[int] | tuple[int, ...], interpolation: str) -> Any:
    """``image`` (a PIL image) resized as :func:`resized_size` says, with PIL's antialiased
    filter for ``interpolation``; an image already that size is returned as it is."""
    size = resized_size(image.size, resize)
    if size == tuple(image.size):
        return image
    return image.resize(size, pil_filter(interpolation))
