"""``dense_detector``: an FCOS-like anchor-free detector made to be compressed and deployed.

A backbone (the built-in conv stack, or a torchvision network's feature layers; see
:mod:`~compressor_detection.models.backbones`), an FPN-lite neck (1x1 laterals, a top-down
nearest-neighbour sum, one 3x3 conv per level) and, per level, a head with a class tower and a
box tower (``head_convs`` 3x3 conv-BN-ReLU each) ending in three layers: class logits, four box
distances, one centerness logit (Tian et al. 2019, FCOS). Heads are per level, not shared, so
that every layer has one place in torch-pruning's dependency graph and BatchNorm statistics
are per level.

``forward`` returns one ``(N, A, C + 5)`` tensor over the ``A`` points of every level, finest
first; :meth:`DenseDetector.boxes_and_scores` decodes it (box distances are
``softplus(x) * stride`` from the point; score ``sqrt(sigmoid(class) * sigmoid(centerness))``),
:meth:`DenseDetector.loss` trains it (:mod:`~compressor_detection.models.fcos_loss`). Every
shape is fixed by the input size given at build time; pruning changes channels only.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from compressor_detection.layout import RawLayout
from compressor_detection.models.backbones import Taps, build_backbone, conv_bn_relu
from compressor_detection.models.fcos_loss import fcos_loss, level_bounds
from compressor_detection.options import DenseDetectorOptions

#: Focal loss's prior: class logits start at this probability, so that the many background
#: points do not swamp the first steps (Lin et al. 2017, section 4.1).
PRIOR_PROBABILITY = 0.01


class FPNLite(nn.Module):
    """1x1 laterals to ``channels``, a top-down nearest-neighbour sum, a 3x3 conv per level."""

    def __init__(self, in_channels: tuple[int, ...], channels: int) -> None:
        super().__init__()
        self.laterals = nn.ModuleList(nn.Conv2d(c, channels, 1) for c in in_channels)
        self.outputs = nn.ModuleList(conv_bn_relu(channels, channels) for _ in in_channels)

    def forward(self, maps: list[torch.Tensor]) -> list[torch.Tensor]:
        merged = [lateral(x) for lateral, x in zip(self.laterals, maps, strict=True)]
        for i in range(len(merged) - 2, -1, -1):
            coarser = F.interpolate(merged[i + 1], size=merged[i].shape[-2:], mode="nearest")
            merged[i] = merged[i] + coarser
        return [conv(x) for conv, x in zip(self.outputs, merged, strict=True)]


class LevelHead(nn.Module):
    """One level's class and box towers and the three final layers; ``(N, C + 5, h * w)``."""

    def __init__(self, channels: int, num_classes: int, convs: int) -> None:
        super().__init__()
        self.class_tower = nn.Sequential(*(conv_bn_relu(channels, channels) for _ in range(convs)))
        self.box_tower = nn.Sequential(*(conv_bn_relu(channels, channels) for _ in range(convs)))
        self.cls_logits = nn.Conv2d(channels, num_classes, 3, padding=1)
        self.bbox_pred = nn.Conv2d(channels, 4, 3, padding=1)
        self.centerness = nn.Conv2d(channels, 1, 3, padding=1)
        prior = -math.log((1 - PRIOR_PROBABILITY) / PRIOR_PROBABILITY)
        for layer, bias in (
            (self.cls_logits, prior),
            (self.bbox_pred, 0.0),
            (self.centerness, 0.0),
        ):
            nn.init.normal_(layer.weight, std=0.01)
            assert layer.bias is not None
            nn.init.constant_(layer.bias, bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        classes = self.cls_logits(self.class_tower(x))
        boxes = self.box_tower(x)
        raw = torch.cat([classes, self.bbox_pred(boxes), self.centerness(boxes)], dim=1)
        return raw.flatten(2)


def level_points(taps: Taps, levels: list[int]) -> tuple[torch.Tensor, torch.Tensor]:
    """The ``(A, 2)`` centres (x, y) in input pixels of every map cell, and each one's stride."""
    points, strides = [], []
    for (height, width), stride in zip(taps.sizes, levels, strict=True):
        ys, xs = torch.meshgrid(torch.arange(height), torch.arange(width), indexing="ij")
        centre = torch.stack([xs.flatten(), ys.flatten()], dim=1).float() * stride + stride // 2
        points.append(centre)
        strides.append(torch.full((height * width,), float(stride)))
    return torch.cat(points), torch.cat(strides)


class DenseDetector(nn.Module):
    """The ``dense_detector`` model (see the module docstring).

    Args:
        options: Backbone, levels, neck and head sizes.
        input_shape: ``(C, H, W)`` of one input.
        num_classes: Object classes (no background class).
    """

    points: torch.Tensor
    strides: torch.Tensor
    bounds: torch.Tensor
    corners: torch.Tensor
    reach: torch.Tensor

    def __init__(
        self, options: DenseDetectorOptions, input_shape: tuple[int, ...], num_classes: int
    ) -> None:
        super().__init__()
        self.num_classes = num_classes
        self.input_size = (int(input_shape[-2]), int(input_shape[-1]))
        self.raw_layout = RawLayout(classes=num_classes, boxes=4, quality=1)
        self.backbone, taps = build_backbone(options, tuple(input_shape))
        self.neck = FPNLite(taps.channels, options.neck_channels)
        self.heads = nn.ModuleList(
            LevelHead(options.neck_channels, num_classes, options.head_convs) for _ in taps.sizes
        )
        points, strides = level_points(taps, list(options.levels))
        # Not in the state_dict: they follow from the input size, which the recipe fixes.
        self.register_buffer("points", points, persistent=False)
        self.register_buffer("strides", strides, persistent=False)
        self.register_buffer("bounds", level_bounds(strides), persistent=False)
        # Decoding adds signed distances to each point: [-l, -t, +r, +b] from [x, y, x, y].
        self.register_buffer("corners", points.repeat(1, 2), persistent=False)
        sign = torch.tensor([-1.0, -1.0, 1.0, 1.0])
        self.register_buffer("reach", strides[:, None] * sign, persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        maps = self.neck(self.backbone(x))
        raw = torch.cat([head(m) for head, m in zip(self.heads, maps, strict=True)], dim=2)
        return raw.transpose(1, 2)

    def decode_boxes(self, box_logits: torch.Tensor) -> torch.Tensor:
        """``(N, A, 4)`` box logits to unclipped xyxy boxes in input pixels."""
        return self.corners + F.softplus(box_logits.float()) * self.reach

    def boxes_and_scores(self, raw: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``(boxes (N, A, 4)`` xyxy in input pixels, clipped to the image; ``scores (N, A,
        C)`` = ``sqrt(sigmoid(class) * sigmoid(centerness))``)."""
        classes, box_logits, centerness = raw.float().split([self.num_classes, 4, 1], dim=-1)
        boxes = self.decode_boxes(box_logits)
        height, width = self.input_size
        if height == width:  # one Clip node
            boxes = boxes.clamp(0, width)
        else:
            limit = torch.tensor([width, height] * 2, dtype=boxes.dtype, device=boxes.device)
            boxes = torch.minimum(boxes.clamp(min=0), limit)
        scores = torch.sqrt(torch.sigmoid(classes) * torch.sigmoid(centerness))
        return boxes, scores

    def loss(self, raw: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        """Focal loss on classes, GIoU on boxes, BCE on centerness (FCOS's recipe)."""
        return fcos_loss(self, raw, targets)

    def output_layers(self) -> list[nn.Module]:
        """Every level's final class, box and centerness layers."""
        return [
            layer
            for head in self.level_heads
            for layer in (head.cls_logits, head.bbox_pred, head.centerness)
        ]

    @property
    def level_heads(self) -> list[LevelHead]:
        """The heads, finest level first (typed: ``heads`` is a ModuleList)."""
        return [head for head in self.heads if isinstance(head, LevelHead)]


def build_dense_detector(
    options: DenseDetectorOptions | None = None,
    *,
    input_shape: tuple[int, ...],
    num_classes: int,
) -> DenseDetector:
    """The ``dense_detector`` model plugin's factory."""
    return DenseDetector(options or DenseDetectorOptions(), tuple(input_shape), num_classes)
