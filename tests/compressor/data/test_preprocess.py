"""Preprocessing: each step as docs/data.md states it, against torchvision's and PIL's own."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torchvision.transforms import v2

from compressor.data import Preprocessing
from compressor.data.preprocess import as_image, channel_stats, mean_std, value_range_of


def _image(h: int = 20, w: int = 30) -> np.ndarray:
    return np.random.default_rng(0).integers(0, 256, (h, w, 3), dtype=np.uint8)


@pytest.mark.parametrize("interpolation", ["nearest", "bilinear", "bicubic"])
@pytest.mark.parametrize("pixels", ["uint8", "float"])
def test_the_steps_are_the_documented_ones_in_order(interpolation: str, pixels: str) -> None:
    from PIL import Image

    prep = Preprocessing(
        resize=(16,),
        interpolation=interpolation,
        center_crop=(12, 14),
        mean=(0.4, 0.5, 0.6),
        std=(0.2, 0.25, 0.3),
        value_range=(0, 255),
    )
    sample = _image() if pixels == "uint8" else torch.from_numpy(_image()).permute(2, 0, 1) / 255.0
    # nearest is PIL's rule, the pixel whose centre is nearest: torchvision's nearest-exact.
    mode = "nearest-exact" if interpolation == "nearest" else interpolation
    resize = v2.Resize(16, interpolation=v2.InterpolationMode(mode), antialias=True)
    if pixels == "uint8":  # an image file's pixels: resized by PIL, as serving resizes them
        filters = {"nearest": Image.Resampling.NEAREST, "bilinear": Image.Resampling.BILINEAR}
        filters["bicubic"] = Image.Resampling.BICUBIC
        resize = v2.Lambda(lambda x: x.resize((24, 16), filters[interpolation]))
    reference = v2.Compose(
        [
            v2.ToPILImage() if pixels == "uint8" else v2.Identity(),
            resize,
            v2.ToImage(),
            v2.CenterCrop((12, 14)),
            v2.ToDtype(torch.float32, scale=True),
            v2.Normalize([0.4, 0.5, 0.6], [0.2, 0.25, 0.3]),
        ]
    )
    got = prep(sample)
    assert got.shape == (3, 12, 14) and got.dtype == torch.float32 and got.is_contiguous()
    assert torch.allclose(got, reference(sample), atol=1e-6)
    # The shorter side (20) becomes 16, keeping the aspect ratio: 30 -> 24, then cropped.
    assert prep.scaled(sample).shape == (3, 12, 14)
    assert Preprocessing(resize=(16,)).scaled(sample).shape == (3, 16, 24)


def test_without_steps_a_sample_is_only_scaled_to_0_1() -> None:
    got = Preprocessing()(_image())
    want = torch.from_numpy(_image()).permute(2, 0, 1).float() / 255
    assert torch.allclose(got, want, atol=1e-7, rtol=0)
    floats = torch.rand(1, 4, 4)
    assert torch.equal(Preprocessing()(floats), floats)  # float samples are taken as 0..1


def test_samples_are_read_channels_first_by_kind() -> None:
    from PIL import Image

    hwc = _image(5, 7)
    assert as_image(hwc).shape == (3, 5, 7)
    assert as_image(hwc[:, :, 0]).shape == (1, 5, 7)
    assert as_image(Image.fromarray(hwc)).shape == (3, 5, 7)
    assert as_image(Image.fromarray(hwc[:, :, 0])).shape == (1, 5, 7)
    assert as_image(torch.zeros(2, 5, 7)).shape == (2, 5, 7)
    assert as_image(torch.zeros(5, 7)).shape == (1, 5, 7)
    with pytest.raises(TypeError, match="PIL image, a numpy array or a tensor, got str"):
        as_image("cat.jpg")
    with pytest.raises(TypeError, match="2 or 3 dimensions"):
        as_image(torch.zeros(1, 1, 5, 7))


def test_value_ranges_and_the_description() -> None:
    assert value_range_of(torch.zeros(1, dtype=torch.uint8)) == (0.0, 255.0)
    assert value_range_of(torch.zeros(1, dtype=torch.int16)) == (0.0, 32767.0)
    assert value_range_of(torch.zeros(1)) == (0.0, 1.0)
    described = Preprocessing(resize=(32, 32), mean=(0.5,), std=(0.2,)).describe()
    assert described == {
        "resize": [32, 32],
        "interpolation": "bilinear",
        "center_crop": None,
        "mean": [0.5],
        "std": [0.2],
        "value_range": [0.0, 1.0],
    }


def test_channel_statistics_are_the_population_mean_and_std() -> None:
    x = torch.rand(50, 3, 6, 6, generator=torch.Generator().manual_seed(0))
    x[:, 2] = 0.25  # a constant channel
    first, second = channel_stats(x[:20]), channel_stats(x[20:])
    mean, std = mean_std(first[0] + second[0], first[1] + second[1], first[2] + second[2])
    want_mean = x.double().mean(dim=(0, 2, 3))
    want_std = x.double().std(dim=(0, 2, 3), correction=0)
    assert np.allclose(mean, want_mean.numpy()) and np.allclose(std[:2], want_std[:2].numpy())
    assert std[2] == 1.0  # not a division by zero
