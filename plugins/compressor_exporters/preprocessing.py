"""Normalization inside the exported graph, so deployments feed raw pixels.

A deployment that re-implements ``(pixel / 255 - mean) / std`` by hand gets it subtly wrong
(channel order, 0..1 vs 0..255, the training split's statistics): putting it in the graph
removes the chance. The two constants are folded into one multiply-add.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

#: Pixel value of full intensity per ``raw_input`` kind.
RAW_SCALE = {"uint8": 255.0, "float": 1.0}
RAW_DTYPE = {"uint8": torch.uint8, "float": torch.float32}


def _per_channel(values: Sequence[float], rank: int) -> torch.Tensor:
    """``values`` shaped to broadcast over the channel axis of a ``(C, ...)`` sample."""
    return torch.tensor([float(v) for v in values], dtype=torch.float32).view(
        -1, *([1] * (rank - 1))
    )


class EmbeddedPreprocessing(nn.Module):
    """Wraps a model that takes normalized inputs into one that takes raw pixels.

    Args:
        model: The classifier, taking ``(x - mean) / std`` with x in the 0..1 scale.
        mean: Per-channel mean (0..1 scale).
        std: Per-channel standard deviation (0..1 scale).
        raw_input: ``uint8`` (pixels 0..255) or ``float`` (pixels 0..1).
        sample_rank: Rank of one sample, e.g. 3 for ``(C, H, W)``.
    """

    def __init__(
        self,
        model: nn.Module,
        mean: Sequence[float],
        std: Sequence[float],
        raw_input: str,
        sample_rank: int,
    ) -> None:
        super().__init__()
        self.model = model
        mean_t = _per_channel(mean, sample_rank)
        std_t = _per_channel(std, sample_rank)
        # (x / scale - mean) / std == x * (1 / (scale * std)) + (-mean / std): one Mul, one Add.
        self.register_buffer("scale", 1.0 / (RAW_SCALE[raw_input] * std_t))
        self.register_buffer("shift", -mean_t / std_t)

    scale: torch.Tensor
    shift: torch.Tensor

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x.to(torch.float32) * self.scale + self.shift)


def raw_pixels(
    x: torch.Tensor, mean: Sequence[float], std: Sequence[float], raw_input: str
) -> torch.Tensor:
    """The raw pixels behind normalized samples ``x``: uint8 0..255 (rounded) or float 0..1."""
    rank = x.dim() - 1
    pixels = x.double() * _per_channel(std, rank).double() + _per_channel(mean, rank).double()
    if raw_input == "uint8":
        return (pixels * 255.0).round().clamp(0, 255).to(torch.uint8)
    return pixels.float()


def normalized(
    raw: torch.Tensor, mean: Sequence[float], std: Sequence[float], raw_input: str
) -> torch.Tensor:
    """What the PyTorch model takes for ``raw`` pixels: ``(raw / scale - mean) / std``, float32.

    Computed in float64 and independently of :class:`EmbeddedPreprocessing`, so the parity check
    compares the graph's normalization with a reference, not with itself.
    """
    rank = raw.dim() - 1
    pixels = raw.double() / RAW_SCALE[raw_input]
    mean_t, std_t = _per_channel(mean, rank).double(), _per_channel(std, rank).double()
    return ((pixels - mean_t) / std_t).float()
