"""``bc_resnet``: broadcasted residual learning (Kim et al. 2021), BC-ResNet-1 to BC-ResNet-8.

Each block keeps the 2-D (frequency x time) features cheap: a frequency-wise depthwise
convolution with SubSpectralNorm (``f2``), then the frequency axis averaged away and a temporal
depthwise convolution, SiLU and a 1x1 convolution over the resulting 1-D features (``f1``), whose
output is *broadcast* back over frequency and added to ``f2``'s (and to the block's input, when
the channels do not change). The paper's layout, base channels ``b = 8 * scale``:

- a 5x5 convolution, stride 2 in frequency, to ``2b`` channels;
- four stages of 2, 2, 4 and 4 blocks with ``b``, ``1.5b``, ``2b`` and ``2.5b`` channels; the
  first blocks of stages 2 and 3 halve the frequency; stage ``i`` dilates time by ``2**i``;
- a depthwise 5x5 convolution without frequency padding, a 1x1 convolution to ``4b``, global
  average pooling and a Linear classifier (the paper's final 1x1 convolution, the same map).

SubSpectralNorm is batch norm over ``channels * sub_bands`` rows of a reshape, the paper's own
formulation; torch-pruning's dependency graph maps a pruned channel to its ``sub_bands`` rows.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch
from torch import nn

from compressor_audio.models.ds_cnn import conv_bn_relu
from compressor_audio.models.spotter import (
    KeywordSpotter,
    build_frontend,
    spotter,
    waveform_samples,
)

if TYPE_CHECKING:
    from compressor_audio.options import BcResNetOptions

#: Blocks per stage.
STAGE_BLOCKS = (2, 2, 4, 4)
#: Each stage's channels, as multiples of the base channels.
STAGE_WIDTHS = (1.0, 1.5, 2.0, 2.5)
#: The stages whose first block halves the frequency axis.
STRIDED_STAGES = (1, 2)


def halved(size: int) -> int:
    """A frequency size after a stride-2 convolution that pads ``(kernel - 1) // 2``."""
    return (size + 1) // 2


def sub_bands_for(height: int, wanted: int) -> int:
    """The most sub-bands, at most ``wanted``, that divide ``height`` evenly."""
    return max(s for s in range(1, min(wanted, height) + 1) if height % s == 0)


class SubSpectralNorm(nn.Module):
    """Batch norm with statistics per channel and frequency sub-band (Chang et al. 2021).

    Trained and pruned as batch norm over ``channels * sub_bands`` rows of a reshape. Exported
    to ONNX (eval mode) as what it then is, a fixed scale and shift per channel and frequency
    row: one ``Mul`` and one ``Add`` with constants, rather than a reshape, a batch norm and a
    reshape back whose shapes the TorchScript exporter computes at run time.

    Args:
        channels: Channels of the input ``(N, channels, height, frames)``.
        sub_bands: Equal frequency bands, each normalized on its own; must divide ``height``.
    """

    def __init__(self, channels: int, sub_bands: int) -> None:
        super().__init__()
        self.sub_bands = sub_bands
        self.bn = nn.BatchNorm2d(channels * sub_bands)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``x`` normalized per channel and sub-band."""
        if not self.training and torch.onnx.is_in_onnx_export():
            return self._affine(x)
        n, c, f, t = x.shape
        bands = self.bn(x.reshape(n, c * self.sub_bands, f // self.sub_bands, t))
        return bands.reshape(n, c, f, t)

    def _affine(self, x: torch.Tensor) -> torch.Tensor:
        """Eval-mode batch norm as ``x * scale + shift``, both ``(channels, height, 1)``.

        The height is read as a Python number: the exporter then folds both maps into
        constants (only the batch axis of an exported file is dynamic).
        """
        bn = self.bn
        assert bn.running_mean is not None and bn.running_var is not None
        scale = torch.rsqrt(bn.running_var + bn.eps)
        if bn.weight is not None:
            scale = scale * bn.weight
        shift = -bn.running_mean * scale
        if bn.bias is not None:
            shift = shift + bn.bias
        bands, rows = self.sub_bands, int(x.shape[2]) // self.sub_bands
        shape = (bn.num_features // bands, bands, rows)
        scale = scale.reshape(*shape[:2], 1).expand(shape).reshape(shape[0], -1, 1)
        shift = shift.reshape(*shape[:2], 1).expand(shape).reshape(shape[0], -1, 1)
        return x * scale + shift


def sub_spectral_norm(channels: int, sub_bands: int) -> nn.Module:
    """:class:`SubSpectralNorm`, or plain batch norm for one band (which onnxruntime folds
    into the convolution before it)."""
    return SubSpectralNorm(channels, sub_bands) if sub_bands > 1 else nn.BatchNorm2d(channels)


class BroadcastBlock(nn.Module):
    """One BC-ResBlock (a transition block when the channels change: no identity shortcut).

    Args:
        in_channels: Input channels.
        out_channels: Output channels.
        height: The frequency size after this block's stride.
        freq_stride: 1, or 2 to halve the frequency.
        dilation: The temporal convolution's dilation.
        sub_bands: SubSpectralNorm's sub-bands (fewer when they do not divide ``height``).
        dropout: Channel dropout after the temporal path.
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        *,
        height: int,
        freq_stride: int,
        dilation: int,
        sub_bands: int,
        dropout: float,
    ) -> None:
        super().__init__()
        self.transition = in_channels != out_channels
        self.enter = (
            conv_bn_relu(in_channels, out_channels, (1, 1)) if self.transition else nn.Identity()
        )
        self.frequency = nn.Sequential(
            nn.Conv2d(
                out_channels,
                out_channels,
                (3, 1),
                (freq_stride, 1),
                (1, 0),
                groups=out_channels,
                bias=False,
            ),
            sub_spectral_norm(out_channels, sub_bands_for(height, sub_bands)),
        )
        self.temporal = nn.Sequential(
            nn.Conv2d(
                out_channels,
                out_channels,
                (1, 3),
                padding=(0, dilation),
                dilation=(1, dilation),
                groups=out_channels,
                bias=False,
            ),
            nn.BatchNorm2d(out_channels),
            nn.SiLU(inplace=True),
            nn.Conv2d(out_channels, out_channels, 1, bias=False),
            nn.Dropout2d(dropout),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """The block's output: ReLU of the broadcast sum."""
        two_d = self.frequency(self.enter(x))
        one_d = self.temporal(two_d.mean(dim=2, keepdim=True))
        out = two_d + one_d
        if not self.transition:
            out = out + x
        return torch.relu(out)


class BcResNet(nn.Module):
    """The network over ``(N, 1, n_mels, frames)`` log-mels (see the module docstring).

    Modules: ``head``, ``blocks`` (flat, in order), ``tail`` (depthwise and 1x1 convolutions),
    ``pool``, ``classifier``.

    Args:
        num_classes: Output logits.
        n_mels: The input's frequency size.
        scale: The width scale (base channels ``8 * scale``).
        sub_bands: SubSpectralNorm's sub-bands.
        dropout: Each block's channel dropout.
    """

    def __init__(
        self,
        num_classes: int,
        n_mels: int = 40,
        scale: float = 1.0,
        sub_bands: int = 5,
        dropout: float = 0.1,
    ) -> None:
        super().__init__()
        base = round(8 * scale)
        first = 2 * base
        self.head = conv_bn_relu(1, first, (5, 5), (2, 1))
        height = halved(n_mels)
        blocks: list[nn.Module] = []
        channels = first
        for stage, (count, width) in enumerate(zip(STAGE_BLOCKS, STAGE_WIDTHS, strict=True)):
            out_channels = int(base * width)
            for index in range(count):
                stride = 2 if stage in STRIDED_STAGES and index == 0 else 1
                height = halved(height) if stride == 2 else height
                blocks.append(
                    BroadcastBlock(
                        channels,
                        out_channels,
                        height=height,
                        freq_stride=stride,
                        dilation=2**stage,
                        sub_bands=sub_bands,
                        dropout=dropout,
                    )
                )
                channels = out_channels
        self.blocks = nn.Sequential(*blocks)
        last = 4 * base
        self.tail = nn.Sequential(
            nn.Conv2d(
                channels, channels, (min(5, height), 5), padding=(0, 2), groups=channels, bias=False
            ),
            conv_bn_relu(channels, last, (1, 1)),
        )
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Linear(last, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Logits of log-mels ``x`` ``(N, 1, n_mels, frames)``."""
        features = self.pool(self.tail(self.blocks(self.head(x))))
        logits: torch.Tensor = self.classifier(features.flatten(1))
        return logits


def build_bc_resnet(
    options: BcResNetOptions, input_shape: tuple[int, ...], num_classes: int
) -> KeywordSpotter:
    """The registered factory: front-end and BC-ResNet for clips of ``input_shape``.

    Raises:
        UsageError: The inputs are not waveforms, or are shorter than one STFT window.
    """
    samples = waveform_samples(input_shape, "bc_resnet")
    frontend = build_frontend(options, samples, "bc_resnet")
    network = BcResNet(
        num_classes,
        n_mels=options.n_mels,
        scale=options.scale,
        sub_bands=options.sub_bands,
        dropout=options.dropout,
    )
    return spotter(options, network, frontend)
