"""Where a run computes and how it repeats: the torch device and the random seeds.

torch and NumPy are imported inside the functions: importing :mod:`compressor.run` stays cheap.
"""

from __future__ import annotations

import random

from compressor.errors import UsageError


def resolve_device(device: str) -> str:
    """Turn the recipe's ``device`` into a torch device; ``auto`` picks CUDA when present.

    Raises:
        UsageError: CUDA (or MPS) was asked for and is not available.
    """
    import torch

    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if device.startswith("cuda"):
        if not torch.cuda.is_available():
            raise UsageError(
                f"device: {device!r} but CUDA is not available here; valid choices: auto, cpu"
            )
        index = int(device.partition(":")[2] or 0)
        if index >= torch.cuda.device_count():
            raise UsageError(
                f"device: {device!r} but only {torch.cuda.device_count()} CUDA device(s)"
            )
    if device == "mps" and not torch.backends.mps.is_available():
        raise UsageError("device: 'mps' but MPS is not available here; valid choices: auto, cpu")
    return device


def seed_everything(seed: int) -> None:
    """Seed Python, NumPy and torch (CPU and CUDA) so runs repeat."""
    import numpy as np
    import torch

    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
