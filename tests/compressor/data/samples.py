"""Datasets of samples the data tests share: generated images, and ones that fail on purpose."""

from __future__ import annotations

import os

import numpy as np
import torch
from torch.utils.data import Dataset

from compressor.data import Split


def tensor_split(n: int = 103, seed: int = 0) -> Split:
    """``n`` random normalized inputs (1, 4, 4) with labels 0..2."""
    generator = torch.Generator().manual_seed(seed)
    return Split(
        torch.randn(n, 1, 4, 4, generator=generator), torch.randint(0, 3, (n,), generator=generator)
    )


class Images(Dataset):
    """``n`` uint8 images ``(H, W, 3)``; image ``i`` is drawn from a generator seeded with ``i``.

    ``sizes`` gives image ``i`` the size ``sizes[i % len(sizes)]``; labels are ``i % 3``, in a
    numpy ``targets`` array (so the labels are known without decoding) unless ``targets`` is off.
    """

    def __init__(self, n: int, sizes=((12, 10),), targets: bool = True) -> None:
        self.n = n
        self.sizes = list(sizes)
        if targets:
            self.targets = np.arange(n, dtype=np.int64) % 3

    def __len__(self) -> int:
        return self.n

    def __getitem__(self, index: int):
        h, w = self.sizes[index % len(self.sizes)]
        rng = np.random.default_rng(index)
        return rng.integers(0, 256, (h, w, 3), dtype=np.uint8), index % 3

    def sample_name(self, index: int) -> str:
        return f"images/{index:03d}.png"


class Corrupt(Images):
    """Sample 5 cannot be read, as a truncated image file cannot."""

    def __getitem__(self, index: int):
        if index == 5:
            raise OSError("image file is truncated (3 bytes not processed)")
        return super().__getitem__(index)


class Dying(Images):
    """Reading sample 5 ends the process that reads it, as the kernel's OOM killer would."""

    def __getitem__(self, index: int):
        if index == 5:
            os._exit(1)
        return super().__getitem__(index)
