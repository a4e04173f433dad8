"""Mixed precision: the recipe's ``precision:`` choices and the context training runs under."""

from __future__ import annotations

from contextlib import AbstractContextManager, nullcontext
from typing import Any

import torch

#: ``precision:`` choices of a recipe.
PRECISIONS = ("fp32", "bf16")


def autocast(device: str, precision: str) -> AbstractContextManager[Any]:
    """``torch.autocast`` to bfloat16 for ``precision: bf16``; a no-op context for ``fp32``.

    Args:
        device: The torch device the forward passes run on (``cuda:1`` autocasts ``cuda``).
        precision: One of :data:`PRECISIONS`.
    """
    if precision != "bf16":
        # Not even a disabled autocast: fp32 runs stay exactly what they were.
        return nullcontext()
    return torch.autocast(device.split(":")[0], dtype=torch.bfloat16)
