"""Batch augmentation on tensors: shifts, flips, rotation, zoom, elastic distortion, mixup, cutmix.

Augmentation runs on whole batches on the training device, so it costs little next to a
forward pass. The distillation loop gives the teacher the very same augmented or mixed batch
as the student ("patient and consistent" teaching, Beyer et al. 2022): the teacher's targets
then describe exactly what the student sees.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Sequence
from typing import Any

import torch
import torch.nn.functional as F


@functools.lru_cache(maxsize=8)
def _gaussian_matrix(size: int, sigma: float) -> torch.Tensor:
    """``(size, size)`` matrix whose product with a signal blurs it by a normalized Gaussian."""
    positions = torch.arange(size, dtype=torch.float32)
    radius = int(2 * sigma)
    offsets = torch.arange(-radius, radius + 1, dtype=torch.float32)
    kernel = torch.exp(-0.5 * (offsets / sigma) ** 2)
    kernel = kernel / kernel.sum()
    distance = positions[:, None] - positions[None, :]
    matrix = torch.zeros(size, size)
    inside = distance.abs() <= radius
    matrix[inside] = kernel[(distance[inside] + radius).long()]
    return matrix


class Augmenter:
    """Applies the recipe's ``data.augment`` to training batches.

    Args:
        config: The validated ``AugmentConfig`` (``shift``, ``flip``, ``rotate``, ``scale``,
            ``elastic``, ``elastic_sigma``, ``mixup``, ``cutmix``, ``mix_prob``).
        mean: Per-channel mean the data was normalized with; padding uses the normalized value
            of a black pixel, so shifted-in borders look like background.
        std: Per-channel standard deviation.
        generator: Seeds every random choice.
    """

    def __init__(
        self,
        config: Any,
        mean: Sequence[float],
        std: Sequence[float],
        generator: torch.Generator,
    ) -> None:
        self.config = config
        self.background = [-m / s for m, s in zip(mean, std, strict=True)]
        self.generator = generator

    @property
    def active(self) -> bool:
        """Whether batches change from one epoch to the next (then teacher outputs can't be cached)."""
        c = self.config
        return c is not None and bool(c.shift or c.flip or c.mixup or c.cutmix or self._warps)

    @property
    def _warps(self) -> bool:
        """Whether batches are rotated, zoomed or elastically distorted (one resampling)."""
        c = self.config
        return bool(c.rotate or c.scale or c.elastic)

    def _rand(self, *shape: int) -> torch.Tensor:
        return torch.rand(*shape, generator=self.generator)

    def _fill(self, x: torch.Tensor) -> torch.Tensor:
        """The normalized black pixel, ``(1, C, 1, 1)`` like ``x`` (the first channel's, when the
        data's channel count differs from the normalization's)."""
        c = x.shape[1]
        fill = torch.tensor(self.background, dtype=x.dtype, device=x.device)
        if len(fill) != c:
            fill = fill[:1].expand(c)
        return fill.view(1, c, 1, 1)

    def shift(self, x: torch.Tensor, pixels: int) -> torch.Tensor:
        """Translate each image by up to ``pixels`` in each direction (pad, then crop)."""
        n, c, h, w = x.shape
        padded = self._fill(x).expand(n, c, h + 2 * pixels, w + 2 * pixels).clone()
        padded[:, :, pixels : pixels + h, pixels : pixels + w] = x
        offsets = torch.randint(0, 2 * pixels + 1, (2, n), generator=self.generator).to(x.device)
        rows = torch.arange(h, device=x.device)[None, :] + offsets[0][:, None]  # (n, h)
        cols = torch.arange(w, device=x.device)[None, :] + offsets[1][:, None]  # (n, w)
        batch = torch.arange(n, device=x.device)[:, None, None]
        out = padded.permute(0, 2, 3, 1)[batch, rows[:, :, None], cols[:, None, :]]  # (n, h, w, c)
        # The default layout, whatever the channel count: with one channel a plain .contiguous()
        # would keep channels-last strides, and PyTorch would pick other (faster) convolution
        # kernels for whichever model reads the batch. Speed is the teacher backend's business.
        return out.permute(0, 3, 1, 2).clone(memory_format=torch.contiguous_format)

    def warp(
        self, x: torch.Tensor, *, rotate: float, scale: float, alpha: float, sigma: float
    ) -> torch.Tensor:
        """Rotate, zoom and elastically distort each image (one resampling for all three).

        Each image gets its own angle in ``[-rotate, rotate]`` degrees, zoom in
        ``[1 - scale, 1 + scale]`` and, when ``alpha`` > 0, a random displacement field smoothed
        by a Gaussian of ``sigma`` pixels and scaled to ``alpha`` pixels (Simard et al. 2003).
        Pixels pulled in from outside the image are background.
        """
        n, c, h, w = x.shape
        angle = (self._rand(n) * 2 - 1) * math.radians(rotate)
        zoom = 1 + (self._rand(n) * 2 - 1) * scale
        cos, sin = torch.cos(angle) / zoom, torch.sin(angle) / zoom
        # The grid is in [-1, 1] along each side; the h / w factors make the turn one in pixels,
        # so a non-square image rotates instead of shearing.
        zero = torch.zeros(n)
        theta = torch.stack(
            [torch.stack([cos, -sin * h / w, zero], 1), torch.stack([sin * w / h, cos, zero], 1)], 1
        )
        grid = F.affine_grid(theta, [n, c, h, w], align_corners=False)  # (n, h, w, 2) as (x, y)
        if alpha:
            field = self._rand(n, 2, h, w) * 2 - 1
            # A separable Gaussian blur as two small matrix products: far cheaper than a
            # convolution with a kernel as wide as the image, and zero-padded the same way.
            field = _gaussian_matrix(h, sigma) @ field @ _gaussian_matrix(w, sigma).T
            pixels_to_grid = torch.tensor([2.0 / w, 2.0 / h]).view(1, 1, 1, 2)
            grid = grid + alpha * field.permute(0, 2, 3, 1) * pixels_to_grid
        background = self._fill(x)
        grid = grid.to(device=x.device, dtype=x.dtype)
        # Sampling x - background with zero padding pads with the background value.
        out = F.grid_sample(
            x - background, grid, mode="bilinear", padding_mode="zeros", align_corners=False
        )
        return (out + background).contiguous()

    def __call__(
        self, x: torch.Tensor, y: torch.Tensor, num_classes: int
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Augment a batch.

        Returns:
            The augmented inputs, and the targets: the labels as given, or class
            probabilities ``(N, num_classes)`` when the batch was mixed.
        """
        c = self.config
        if not self.active:
            return x, y
        if x.dim() == 4 and c.shift:
            x = self.shift(x, c.shift)
        if x.dim() == 4 and self._warps:
            x = self.warp(x, rotate=c.rotate, scale=c.scale, alpha=c.elastic, sigma=c.elastic_sigma)
        if x.dim() == 4 and c.flip:
            flip = (self._rand(len(x)) < 0.5).to(x.device)
            x = torch.where(flip[:, None, None, None], x.flip(-1), x)
        if (c.mixup or c.cutmix) and self._rand(1).item() < c.mix_prob:
            use_cutmix = bool(c.cutmix) and (not c.mixup or self._rand(1).item() < 0.5)
            alpha = c.cutmix if use_cutmix else c.mixup
            lam = float(torch.distributions.Beta(alpha, alpha).sample().item())
            perm = torch.randperm(len(x), generator=self.generator).to(x.device)
            soft = F.one_hot(y, num_classes).to(x.dtype)
            if use_cutmix and x.dim() == 4:
                x, lam = self._cutmix(x, perm, lam)
            else:
                x = lam * x + (1 - lam) * x[perm]
            return x, lam * soft + (1 - lam) * soft[perm]
        return x, y

    def _cutmix(
        self, x: torch.Tensor, perm: torch.Tensor, lam: float
    ) -> tuple[torch.Tensor, float]:
        _, _, h, w = x.shape
        cut_h, cut_w = int(h * (1 - lam) ** 0.5), int(w * (1 - lam) ** 0.5)
        cy = int(torch.randint(0, h, (1,), generator=self.generator))
        cx = int(torch.randint(0, w, (1,), generator=self.generator))
        top, bottom = max(cy - cut_h // 2, 0), min(cy + cut_h // 2, h)
        left, right = max(cx - cut_w // 2, 0), min(cx + cut_w // 2, w)
        x = x.clone()
        x[:, :, top:bottom, left:right] = x[perm, :, top:bottom, left:right]
        # The label weight is the area actually kept, after clipping at the borders.
        return x, 1 - (bottom - top) * (right - left) / (h * w)
