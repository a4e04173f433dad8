"""Backbones of the dense detector: a built-in conv stack or a torchvision network's layers.

Each is an ``nn.Sequential`` whose outputs at chosen children ("taps") feed the neck. Which
child reaches which stride, and with how many channels, is found by running a zero image of
the run's input size once at build time: the same code serves every network, and the taps
never depend on a layer's name.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn

from compressor.errors import UsageError
from compressor_detection.options import DenseDetectorOptions


def conv_bn_relu(in_channels: int, out_channels: int, stride: int = 1) -> nn.Sequential:
    """A 3x3 convolution, batch norm and ReLU."""
    return nn.Sequential(
        nn.Conv2d(in_channels, out_channels, 3, stride=stride, padding=1, bias=False),
        nn.BatchNorm2d(out_channels),
        nn.ReLU(inplace=True),
    )


def conv_stages(in_channels: int, channels: list[int], depth: int, finest: int) -> nn.Sequential:
    """The built-in backbone: per stage a strided 3x3 conv; in the stages at stride
    ``finest`` and coarser, ``depth`` more at its size.

    The stages above the finest level's resolution only bring the image down to it: extra
    convolutions there would cost the most (the largest maps) and feed no level directly.
    """
    stages = []
    for index, width in enumerate(channels):
        layers = [conv_bn_relu(in_channels, width, stride=2)]
        if 2 ** (index + 1) >= finest:
            layers += [conv_bn_relu(width, width) for _ in range(depth)]
        stages.append(nn.Sequential(*layers))
        in_channels = width
    return nn.Sequential(*stages)


def first_conv_takes(body: nn.Module, in_channels: int) -> None:
    """Make ``body``'s first convolution take ``in_channels`` (a fresh layer, same settings)."""
    for name, module in body.named_modules():
        if isinstance(module, nn.Conv2d):
            if module.in_channels == in_channels:
                return
            replacement = nn.Conv2d(
                in_channels,
                module.out_channels,
                module.kernel_size,  # type: ignore[arg-type]
                stride=module.stride,  # type: ignore[arg-type]
                padding=module.padding,  # type: ignore[arg-type]
                bias=module.bias is not None,
            )
            parent_name, _, child = name.rpartition(".")
            parent = body.get_submodule(parent_name) if parent_name else body
            setattr(parent, child, replacement)
            return


def torchvision_layers(name: str, in_channels: int) -> nn.Sequential:
    """The feature layers of a torchvision network, randomly initialized, as one Sequential.

    ``mobilenet_v3_*``: its ``features``; ``resnet18``: the stem and the four stages. Child
    indices keep torchvision's (``features.3`` is child ``3``), so a state_dict of the network
    maps onto them by prefix.
    """
    import torchvision

    if name.startswith("mobilenet_v3"):
        network = getattr(torchvision.models, name)(weights=None)
        body: nn.Sequential = network.features
    elif name == "resnet18":
        net = torchvision.models.resnet18(weights=None)
        body = nn.Sequential(
            net.conv1,
            net.bn1,
            net.relu,
            net.maxpool,
            net.layer1,
            net.layer2,
            net.layer3,
            net.layer4,
        )
    else:  # the options schema lists the valid names
        raise UsageError(f"unknown backbone {name!r}")
    first_conv_takes(body, in_channels)
    return body


@dataclass(frozen=True)
class Taps:
    """Where the neck reads a backbone: per level, the child index, channels and map size."""

    indices: tuple[int, ...]
    channels: tuple[int, ...]
    sizes: tuple[tuple[int, int], ...]


def find_taps(body: nn.Sequential, input_shape: tuple[int, ...], levels: list[int]) -> Taps:
    """The last child of ``body`` at each stride of ``levels``, found on a zero image.

    Raises:
        UsageError: The backbone never reaches one of the strides (names those it reaches).
    """
    was_training = body.training
    body.eval()
    reached: dict[int, tuple[int, int, tuple[int, int]]] = {}
    with torch.no_grad():
        x = torch.zeros(1, *input_shape)
        for index, child in enumerate(body):
            x = child(x)
            stride = 2 ** round(math.log2(input_shape[-2] / x.shape[-2]))
            reached[stride] = (index, int(x.shape[1]), (int(x.shape[-2]), int(x.shape[-1])))
    body.train(was_training)
    missing = [level for level in levels if level not in reached]
    if missing:
        raise UsageError(
            f"levels {levels}: the backbone reaches strides {sorted(reached)} at input size "
            f"{list(input_shape[-2:])}, not {missing}"
        )
    chosen = [reached[level] for level in levels]
    return Taps(
        indices=tuple(c[0] for c in chosen),
        channels=tuple(c[1] for c in chosen),
        sizes=tuple(c[2] for c in chosen),
    )


class TappedBackbone(nn.Module):
    """Runs ``body`` up to its last tap and returns the maps at the taps, finest first."""

    def __init__(self, body: nn.Sequential, taps: Taps) -> None:
        super().__init__()
        # Layers after the last tap would cost time and feed nothing.
        self.body = nn.Sequential(*list(body)[: taps.indices[-1] + 1])
        self.taps = taps.indices

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        maps = []
        for index, child in enumerate(self.body):
            x = child(x)
            if index in self.taps:
                maps.append(x)
        return maps


def build_backbone(
    options: DenseDetectorOptions, input_shape: tuple[int, ...]
) -> tuple[TappedBackbone, Taps]:
    """The backbone ``options`` name, tapped at ``options.levels`` for ``input_shape``."""
    if options.backbone == "conv":
        body = conv_stages(
            input_shape[0], list(options.channels), options.depth, min(options.levels)
        )
    else:
        body = torchvision_layers(options.backbone, input_shape[0])
    taps = find_taps(body, input_shape, list(options.levels))
    return TappedBackbone(body, taps), taps
