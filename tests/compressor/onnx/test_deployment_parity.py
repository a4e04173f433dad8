"""Serving preprocessing (PIL and numpy, no torch) against training's (torchvision), per path.

``compressor predict`` repeats the run's preprocessing with :class:`Deployment.prepare`; the run
itself reads image files with :func:`compressor.data.images.read_image` and prepares them with
:class:`compressor.data.Preprocessing`. Two implementations, so every path is compared here to
one grey level: a one-number resize (shorter side, both orientations), a two-number resize,
a crop smaller and larger than the image, each interpolation, and grey, RGB, RGBA, grey with
alpha and palette images (with and without a transparent colour), to grey and to RGB; the
training sample given as a PIL image, an ``(H, W[, C])`` array and a tensor.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from compressor.data import Preprocessing
from compressor.data.images import read_image
from compressor.onnx.deployment import Deployment

#: PIL ``(width, height)`` of the test images: landscape and portrait.
SIZES = ((23, 17), (17, 29))
#: (resize, center_crop) pairs: every geometric path.
GEOMETRY = (
    (None, None),
    ((12,), None),
    ((9, 14), None),
    ((12,), (10, 8)),
    (None, (31, 20)),  # larger than the image on one side: zero padding
)


def _image(mode: str, size: tuple[int, int]) -> Image.Image:
    """A noisy image in PIL ``mode``, with edges sharp enough to tell filters apart."""
    rng = np.random.default_rng(sum(size) + len(mode))
    rgba = rng.integers(0, 256, (size[1], size[0], 4), dtype=np.uint8)
    rgba[::3, :, :3] = 255  # stripes: what resampling filters treat differently
    image = Image.fromarray(rgba, "RGBA")
    if mode == "P":
        return image.convert("RGB").quantize(32)
    if mode == "P transparent":
        palette = image.convert("RGB").quantize(32)
        palette.info["transparency"] = 3
        return palette
    return image.convert(mode)


def _deployment(resize, crop, interpolation: str, channels: str) -> Deployment:
    return Deployment(
        resize=list(resize) if resize else None,
        interpolation=interpolation,
        center_crop=list(crop) if crop else None,
        channels=channels,
        mean=[0.0],
        std=[1.0],
        graph_input="uint8 0..255",
        class_names=[],
    )


@pytest.mark.parametrize("interpolation", ["nearest", "bilinear", "bicubic"])
@pytest.mark.parametrize("channels", ["RGB", "grey"])
@pytest.mark.parametrize("mode", ["L", "RGB", "RGBA", "LA", "P", "P transparent"])
def test_serving_gives_trainings_pixels_to_one_grey_level(
    tmp_path: Path, interpolation: str, channels: str, mode: str
) -> None:
    worst = {}
    for size in SIZES:
        path = tmp_path / f"{mode}-{size[0]}x{size[1]}.png"
        _image(mode, size).save(path)
        trained = read_image(path, 3 if channels == "RGB" else 1)
        # The same pixels as a dataset may give them: a PIL image, an array, a tensor.
        pixels = np.array(trained)
        tensor = torch.from_numpy(pixels.copy())  # a tensor is (C, H, W), or (H, W) for grey
        tensor = tensor.permute(2, 0, 1) if tensor.dim() == 3 else tensor
        samples = {"PIL": trained, "array": pixels, "tensor": tensor}
        for resize, crop in GEOMETRY:
            steps = Preprocessing(resize=resize, interpolation=interpolation, center_crop=crop)
            served = _deployment(resize, crop, interpolation, channels).prepare(path)
            for kind, sample in samples.items():
                expected = np.round(steps.scaled(sample).numpy() * 255)[None]
                assert served.shape == expected.shape, (kind, size, resize, crop)
                error = np.abs(served.astype(np.float64) - expected).max()
                worst[(kind, size, resize, crop)] = error
    assert max(worst.values()) <= 1.0, {k: v for k, v in worst.items() if v > 1.0}
