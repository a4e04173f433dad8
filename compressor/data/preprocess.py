"""The deterministic preprocessing: how one raw sample becomes the model's input.

:class:`Preprocessing` is both the transform a streamed split applies to every sample (in
training, evaluation and calibration alike) and the description deployment must repeat (the
exporters read it from :attr:`compressor.data.DataBundle.preprocessing`). Its steps, in order:

1. the sample as a ``(C, H, W)`` tensor: a PIL image as its pixels
   (``torchvision.transforms.v2.functional.pil_to_tensor``), a numpy array as ``(H, W)`` or
   ``(H, W, C)``, a tensor as ``(H, W)`` or ``(C, H, W)``;
2. ``resize``: one number resizes the shorter side to it (keeping the aspect ratio), two give
   ``(height, width)``. A grey or RGB PIL image (what image files become) is resized by PIL's
   antialiased filter (:func:`compressor.imaging.resize_image`), the very code that prepares an
   image file for a deployed model, so training and serving see the same pixels; so are 8-bit
   grey or RGB arrays and tensors (an image file's pixels). Other samples (floats, other
   channel counts) go through ``torchvision.transforms.v2.functional.resize`` with
   ``antialias=True``, on their own dtype. ``nearest`` is PIL's rule either way
   (torchvision's ``nearest-exact``);
3. ``center_crop`` to ``(height, width)``;
4. to float32 in 0..1: integer pixels divided by their dtype's maximum (255 for uint8), float
   samples as they are;
5. normalize: ``(x - mean) / std`` per channel.

Channel conversion (grey to RGB) is the dataset plugin's: a sample with other channels than
the split's first is an error naming it.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, replace
from typing import Any

import numpy as np
import torch

from compressor.imaging import RESIZED_MODES, resize_image

#: The interpolations ``data.preprocess.interpolation`` accepts (torchvision's names).
INTERPOLATIONS = ("nearest", "bilinear", "bicubic")
#: torchvision's mode for each: ``nearest`` is PIL's rule (the pixel whose centre is nearest),
#: torchvision's ``nearest-exact``; its ``nearest`` takes ``floor(i * scale)``, another pixel.
TORCHVISION_MODES = {"nearest": "nearest-exact", "bilinear": "bilinear", "bicubic": "bicubic"}


@dataclass(frozen=True)
class Preprocessing:
    """The steps from a raw sample to a normalized float32 input, and their parameters.

    Attributes:
        resize: ``(size,)`` for the shorter side, or ``(height, width)``; ``None`` keeps the size.
        interpolation: ``nearest``, ``bilinear`` or ``bicubic``.
        center_crop: ``(height, width)`` of the central crop; ``None`` crops nothing.
        mean: Per-channel mean subtracted, in the 0..1 scale (one value for all channels).
        std: Per-channel standard deviation divided by.
        value_range: The raw pixel values that become 0 and 1 (``(0, 255)`` for uint8 images,
            ``(0, 16)`` for the UCI digits): what a deployed model's caller feeds.
    """

    resize: tuple[int, ...] | None = None
    interpolation: str = "bilinear"
    center_crop: tuple[int, int] | None = None
    mean: tuple[float, ...] = (0.0,)
    std: tuple[float, ...] = (1.0,)
    value_range: tuple[float, float] = (0.0, 1.0)

    @property
    def normalizes(self) -> bool:
        """Whether step 5 changes anything."""
        return any(m != 0.0 for m in self.mean) or any(s != 1.0 for s in self.std)

    def with_stats(self, mean: tuple[float, ...], std: tuple[float, ...]) -> Preprocessing:
        """The same steps with another normalization."""
        return replace(self, mean=tuple(mean), std=tuple(std))

    def describe(self) -> dict[str, Any]:
        """A JSON-ready form, for ``metrics.json`` and an exported file's metadata."""
        return {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(self).items()}

    def scaled(self, sample: Any) -> torch.Tensor:
        """Steps 1 to 4: ``sample`` resized, cropped and in 0..1, not normalized."""
        from torchvision.transforms.v2 import InterpolationMode
        from torchvision.transforms.v2 import functional as F

        if self.resize is None:
            image = as_image(sample)
        elif getattr(sample, "mode", None) in RESIZED_MODES:
            # Resized by the code serving resizes image files with: PIL's and torchvision's
            # resizes differ by up to 5 grey levels (compressor.imaging).
            image = as_image(resize_image(sample, self.resize, self.interpolation))
        else:
            image = as_image(sample)
            if _is_8_bit_image(image):  # the pixels of an image file, given as an array
                image = _resized_as_pil(image, self.resize, self.interpolation)
            else:
                mode = InterpolationMode(TORCHVISION_MODES[self.interpolation])
                image = F.resize(image, list(self.resize), interpolation=mode, antialias=True)
        if self.center_crop is not None:
            image = F.center_crop(image, list(self.center_crop))
        if not image.is_floating_point():
            image = F.to_dtype(image, torch.float32, scale=True)
        return image.to(torch.float32)

    def __call__(self, sample: Any) -> torch.Tensor:
        """All five steps: the model's input for ``sample``, contiguous float32 ``(C, H, W)``."""
        return self.normalize(self.scaled(sample))

    def normalize(self, image: torch.Tensor) -> torch.Tensor:
        """Step 5 on a 0..1 image from :meth:`scaled` (a training split augments in between)."""
        if self.normalizes:
            shape = (-1,) + (1,) * (image.dim() - 1)
            mean = torch.tensor(self.mean, dtype=torch.float32).view(shape)
            std = torch.tensor(self.std, dtype=torch.float32).view(shape)
            image = (image - mean) / std
        return image.contiguous()


def _is_8_bit_image(image: torch.Tensor) -> bool:
    """Whether ``image`` (``C, H, W``) holds grey or RGB 8-bit pixels, as an image file does."""
    return image.dtype == torch.uint8 and image.shape[0] in (1, 3)


def _resized_as_pil(
    image: torch.Tensor, resize: tuple[int, ...], interpolation: str
) -> torch.Tensor:
    """``image`` (8-bit grey or RGB, ``C, H, W``) resized by PIL, as :func:`resize_image` does."""
    from PIL import Image

    pixels = image.permute(1, 2, 0).numpy()
    pil = Image.fromarray(pixels[:, :, 0] if image.shape[0] == 1 else pixels)
    return as_image(resize_image(pil, resize, interpolation))


def as_image(sample: Any) -> torch.Tensor:
    """``sample`` as a ``(C, H, W)`` tensor of its own dtype (step 1 of :class:`Preprocessing`).

    Raises:
        TypeError: ``sample`` is not a PIL image, a numpy array or a tensor of 2 or 3 dims.
    """
    if hasattr(sample, "getbands"):  # a PIL image; PIL itself need not be imported here
        from torchvision.transforms.v2 import functional as F

        image: torch.Tensor = F.pil_to_tensor(sample)
        return image
    if isinstance(sample, np.ndarray):
        array = torch.from_numpy(np.ascontiguousarray(sample))
        if array.dim() == 3:
            return array.permute(2, 0, 1)
        return _channels_first(array, "numpy array")
    if isinstance(sample, torch.Tensor):
        return _channels_first(sample, "tensor")
    raise TypeError(
        f"a sample must be a PIL image, a numpy array or a tensor, got {type(sample).__name__}"
    )


def _channels_first(image: torch.Tensor, kind: str) -> torch.Tensor:
    if image.dim() == 2:
        return image.unsqueeze(0)
    if image.dim() == 3:
        return image
    raise TypeError(f"a {kind} sample must have 2 or 3 dimensions, got shape {tuple(image.shape)}")


def value_range_of(sample: torch.Tensor) -> tuple[float, float]:
    """The raw range that becomes 0..1 for samples like ``sample`` (see step 4)."""
    if sample.is_floating_point():
        return (0.0, 1.0)
    return (0.0, float(torch.iinfo(sample.dtype).max))


def channel_stats(images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, int]:
    """Per-channel sums of ``x`` and ``x**2`` over a batch ``(N, C, ...)``, and the count per
    channel: accumulate these over batches, then call :func:`mean_std`."""
    dims = [d for d in range(images.dim()) if d != 1]
    flat = images.double()
    return flat.sum(dim=dims), (flat * flat).sum(dim=dims), images.numel() // images.shape[1]


def mean_std(
    total: torch.Tensor, squares: torch.Tensor, count: int
) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """Population mean and standard deviation per channel from :func:`channel_stats` sums.

    A constant channel would divide by zero: its std becomes 1 (as the built-in datasets do).
    """
    mean = total / count
    variance = (squares / count - mean * mean).clamp(min=0.0)
    std = [math.sqrt(v) for v in variance.tolist()]
    return tuple(float(m) for m in mean.tolist()), tuple(s if s > 1e-8 else 1.0 for s in std)
