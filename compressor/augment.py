"""Batch augmentation on tensors: random shifts, flips, mixup and cutmix.

Augmentation runs on whole batches on the training device, so it costs little next to a
forward pass. The distillation loop gives the teacher the very same augmented or mixed batch
as the student ("patient and consistent" teaching, Beyer et al. 2022): the teacher's targets
then describe exactly what the student sees.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
import torch.nn.functional as F


class Augmenter:
    """Applies the recipe's ``data.augment`` to training batches.

    Args:
        config: The validated ``AugmentConfig`` (``shift``, ``flip``, ``mixup``, ``cutmix``,
            ``mix_prob``).
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
        return c is not None and bool(c.shift or c.flip or c.mixup or c.cutmix)

    def _rand(self, *shape: int) -> torch.Tensor:
        return torch.rand(*shape, generator=self.generator)

    def shift(self, x: torch.Tensor, pixels: int) -> torch.Tensor:
        """Translate each image by up to ``pixels`` in each direction (pad, then crop)."""
        n, c, h, w = x.shape
        fill = torch.tensor(self.background, dtype=x.dtype, device=x.device)
        if len(fill) != c:
            fill = fill[:1].expand(c)
        padded = fill.view(1, c, 1, 1).expand(n, c, h + 2 * pixels, w + 2 * pixels).clone()
        padded[:, :, pixels : pixels + h, pixels : pixels + w] = x
        offsets = torch.randint(0, 2 * pixels + 1, (2, n), generator=self.generator).to(x.device)
        rows = (torch.arange(h, device=x.device)[None, :] + offsets[0][:, None])  # (n, h)
        cols = (torch.arange(w, device=x.device)[None, :] + offsets[1][:, None])  # (n, w)
        batch = torch.arange(n, device=x.device)[:, None, None]
        out = padded.permute(0, 2, 3, 1)[batch, rows[:, :, None], cols[:, None, :]]  # (n, h, w, c)
        # The default layout, whatever the channel count: with one channel a plain .contiguous()
        # would keep channels-last strides, and PyTorch would pick other (faster) convolution
        # kernels for whichever model reads the batch. Speed is the teacher backend's business.
        return out.permute(0, 3, 1, 2).clone(memory_format=torch.contiguous_format)

    def __call__(self, x: torch.Tensor, y: torch.Tensor, num_classes: int) -> tuple[torch.Tensor, torch.Tensor]:
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

    def _cutmix(self, x: torch.Tensor, perm: torch.Tensor, lam: float) -> tuple[torch.Tensor, float]:
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
