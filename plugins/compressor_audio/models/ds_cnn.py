"""``ds_cnn``: the depthwise-separable CNN of Zhang et al. 2017 ("Hello Edge"), sizes S, M, L.

A first convolution over (4 mel bins x 10 frames), then depthwise-separable blocks (a 3x3
depthwise convolution and a 1x1 pointwise one, each with batch norm and ReLU), global average
pooling, dropout and a Linear classifier. The sizes are Hello Edge's (its ``model_size_info``):

- S: 64 channels, first stride 2 x 2, 4 blocks;
- M: 172 channels, first stride 2 in time, 4 blocks, the first with stride 2 x 2;
- L: 276 channels, as M with 5 blocks.

The parameter counts differ a little from the paper's (38.6k/189.7k/497.6k for 10 MFCCs and 12
classes): batch norm instead of biases, and the class count is the data's.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch
from torch import nn

from compressor_audio.models.spotter import (
    KeywordSpotter,
    build_frontend,
    spotter,
    waveform_samples,
)

if TYPE_CHECKING:
    from compressor_audio.options import DsCnnOptions

#: Per size: channels, the first convolution's (freq, time) stride, each block's stride.
SIZES: dict[str, tuple[int, tuple[int, int], tuple[int, ...]]] = {
    "S": (64, (2, 2), (1, 1, 1, 1)),
    "M": (172, (1, 2), (2, 1, 1, 1)),
    "L": (276, (1, 2), (2, 1, 1, 1, 1)),
}
#: The first convolution's kernel, (mel bins, frames).
FIRST_KERNEL = (4, 10)


def conv_bn_relu(
    in_channels: int,
    out_channels: int,
    kernel: tuple[int, int],
    stride: tuple[int, int] | int = 1,
    groups: int = 1,
) -> nn.Sequential:
    """A convolution (padding (k - 1) // 2, no bias), batch norm, ReLU."""
    padding = ((kernel[0] - 1) // 2, (kernel[1] - 1) // 2)
    return nn.Sequential(
        nn.Conv2d(in_channels, out_channels, kernel, stride, padding, groups=groups, bias=False),
        nn.BatchNorm2d(out_channels),
        nn.ReLU(inplace=True),
    )


class DsCnn(nn.Module):
    """The network over ``(N, 1, n_mels, frames)`` log-mels (see the module docstring).

    Modules: ``features`` (the first convolution, then one ``Sequential`` of depthwise and
    pointwise layers per block), ``pool``, ``dropout``, ``classifier``.

    Args:
        num_classes: Output logits.
        channels: Channels of every layer.
        first_stride: The first convolution's (freq, time) stride.
        block_strides: One stride per depthwise-separable block.
        dropout: Dropout before the classifier.
    """

    def __init__(
        self,
        num_classes: int,
        channels: int = 64,
        first_stride: tuple[int, int] = (2, 2),
        block_strides: tuple[int, ...] = (1, 1, 1, 1),
        dropout: float = 0.2,
    ) -> None:
        super().__init__()
        layers: list[nn.Module] = [conv_bn_relu(1, channels, FIRST_KERNEL, first_stride)]
        for stride in block_strides:
            layers.append(
                nn.Sequential(
                    conv_bn_relu(channels, channels, (3, 3), stride, groups=channels),
                    conv_bn_relu(channels, channels, (1, 1)),
                )
            )
        self.features = nn.Sequential(*layers)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.dropout = nn.Dropout(dropout)
        self.classifier = nn.Linear(channels, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Logits of log-mels ``x`` ``(N, 1, n_mels, frames)``."""
        logits: torch.Tensor = self.classifier(self.dropout(self.pool(self.features(x)).flatten(1)))
        return logits


def build_ds_cnn(
    options: DsCnnOptions, input_shape: tuple[int, ...], num_classes: int
) -> KeywordSpotter:
    """The registered factory: front-end and DS-CNN for clips of ``input_shape`` ``(samples,)``.

    Raises:
        UsageError: The inputs are not waveforms, or are shorter than one STFT window.
    """
    samples = waveform_samples(input_shape, "ds_cnn")
    frontend = build_frontend(options, samples, "ds_cnn")
    channels, first_stride, block_strides = SIZES[options.size]
    network = DsCnn(
        num_classes,
        channels=options.channels or channels,
        first_stride=first_stride,
        block_strides=block_strides,
        dropout=options.dropout,
    )
    return spotter(options, network, frontend)
