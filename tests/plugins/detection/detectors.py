"""Tiny dense detectors for the tests: small enough to build, prune and export in a second."""

from __future__ import annotations

import torch
from compressor_detection.models.dense import DenseDetector, build_dense_detector
from compressor_detection.options import DenseDetectorOptions
from torch import nn

SHAPE = (3, 64, 64)
CLASSES = 4
#: Strides 2, 4, 8, 16; the head predicts at 8 (8x8 points) and 16 (4x4): A = 80.
TINY = DenseDetectorOptions(channels=[8, 8, 16, 16], levels=[8, 16], neck_channels=16)
ANCHORS = 8 * 8 + 4 * 4


def tiny_detector(
    seed: int = 0, options: DenseDetectorOptions = TINY, classes: int = CLASSES
) -> DenseDetector:
    """A tiny detector, randomly initialized."""
    torch.manual_seed(seed)
    return build_dense_detector(options, input_shape=SHAPE, num_classes=classes)


def lively(model: DenseDetector) -> DenseDetector:
    """Weights that make a random image's scores spread widely and a black image's all low.

    Every layer before the head's last ones has no bias once the neck's laterals lose theirs,
    and BatchNorm is the identity at its initial statistics: a zero image reaches the last
    layers as zeros, so its class and centerness logits are their biases (scores
    sqrt(0.01 * sigmoid(-3)) = 0.02, under the 0.05 threshold). He initialization keeps a
    random image's activations at unit scale through the layers, and larger last-layer
    weights spread its scores far apart, so that no two candidates nearly tie.
    """
    last = {id(layer) for layer in model.output_layers()}
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, nn.Conv2d) and id(module) not in last:
                nn.init.kaiming_normal_(module.weight, nonlinearity="relu")
        for lateral in model.neck.laterals:
            assert isinstance(lateral, nn.Conv2d) and lateral.bias is not None
            lateral.bias.zero_()
        for head in model.level_heads:
            head.cls_logits.weight.normal_(std=1.0)
            head.bbox_pred.weight.normal_(std=0.3)
            head.centerness.weight.normal_(std=1.0)
            assert head.centerness.bias is not None
            head.centerness.bias.fill_(-3.0)
    return model.eval()
