"""The seed models: a small CNN teacher and an MLP student, sized from the data's input shape."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

from torch import Tensor, nn

from compressor.errors import UsageError

if TYPE_CHECKING:
    from compressor_models import SeedCNNOptions, SeedMLPOptions

#: Pool only while the feature map is at least this large, so 8x8 inputs keep a 2x2 map.
MIN_POOL_SIZE = 4


class SeedCNN(nn.Module):
    """Conv blocks, then a two-layer classifier; the teacher of the seed recipes.

    Each block is a 3x3 conv (padding 1, no bias: batch norm has one), batch norm and ReLU, and a
    2x2 max-pool while the feature map is at least 4x4. On 8x8 digits with ``[32, 64]`` channels
    that gives 8 -> 4 -> 2; on 28x28 MNIST 28 -> 14 -> 7.

    Modules: ``features`` (the blocks, flat), ``flatten``, ``classifier`` (``0`` dropout,
    ``1`` Linear to ``hidden``, ``2`` ReLU, ``3`` dropout, ``4`` Linear to the classes).

    Args:
        input_shape: Shape of one input, ``(C, H, W)``.
        num_classes: Number of output logits.
        channels: Output channels of each conv block.
        hidden: Width of the hidden classifier layer.
        dropout: Dropout probability before each classifier Linear.
    """

    def __init__(
        self,
        input_shape: tuple[int, ...],
        num_classes: int,
        channels: list[int] | tuple[int, ...] = (32, 64),
        hidden: int = 128,
        dropout: float = 0.25,
    ) -> None:
        super().__init__()
        if len(input_shape) != 3:
            raise UsageError(
                f"seed_cnn needs image inputs shaped (C, H, W), got {tuple(input_shape)}; "
                "use seed_mlp for flat inputs"
            )
        if not channels:
            raise ValueError("seed_cnn needs at least one conv block")
        in_channels, height, width = input_shape
        layers: list[nn.Module] = []
        for out_channels in channels:
            layers += [
                nn.Conv2d(in_channels, out_channels, kernel_size=3, padding=1, bias=False),
                nn.BatchNorm2d(out_channels),
                nn.ReLU(),
            ]
            if height >= MIN_POOL_SIZE and width >= MIN_POOL_SIZE:
                layers.append(nn.MaxPool2d(2))
                height, width = height // 2, width // 2
            in_channels = out_channels
        self.features = nn.Sequential(*layers)
        self.flatten = nn.Flatten()
        self.classifier = nn.Sequential(
            nn.Dropout(dropout),
            nn.Linear(in_channels * height * width, hidden),
            nn.ReLU(),
            nn.Dropout(dropout),
            nn.Linear(hidden, num_classes),
        )

    @classmethod
    def from_options(
        cls, options: SeedCNNOptions, input_shape: tuple[int, ...], num_classes: int
    ) -> SeedCNN:
        """Build from the validated ``seed_cnn`` options (the registered factory)."""
        return cls(
            input_shape,
            num_classes,
            channels=list(options.channels),
            hidden=options.hidden,
            dropout=options.dropout,
        )

    def forward(self, x: Tensor) -> Tensor:
        return self.classifier(self.flatten(self.features(x)))


class SeedMLP(nn.Module):
    """Flatten, hidden Linear + ReLU layers, a Linear classifier; the student of the seed recipes.

    With the default ``[128]`` on 28x28 MNIST this is the classic 784-128-10 MLP.

    Modules: ``flatten``, ``hidden`` (Linear, ReLU and, when ``dropout > 0``, Dropout per
    layer), ``classifier`` (the last Linear).

    Args:
        input_shape: Shape of one input; every dimension is flattened.
        num_classes: Number of output logits.
        hidden: Width of each hidden layer; empty for logistic regression.
        dropout: Dropout probability after each hidden layer (0: no Dropout module).
    """

    def __init__(
        self,
        input_shape: tuple[int, ...],
        num_classes: int,
        hidden: list[int] | tuple[int, ...] = (128,),
        dropout: float = 0.0,
    ) -> None:
        super().__init__()
        width = math.prod(input_shape)
        layers: list[nn.Module] = []
        for units in hidden:
            layers += [nn.Linear(width, units), nn.ReLU()]
            if dropout > 0:
                layers.append(nn.Dropout(dropout))
            width = units
        self.flatten = nn.Flatten()
        self.hidden = nn.Sequential(*layers)
        self.classifier = nn.Linear(width, num_classes)

    @classmethod
    def from_options(
        cls, options: SeedMLPOptions, input_shape: tuple[int, ...], num_classes: int
    ) -> SeedMLP:
        """Build from the validated ``seed_mlp`` options (the registered factory)."""
        return cls(input_shape, num_classes, hidden=list(options.hidden), dropout=options.dropout)

    def forward(self, x: Tensor) -> Tensor:
        return self.classifier(self.hidden(self.flatten(x)))
