"""torchvision's detectors behind the detector protocol: decode, targets, train, score."""

from __future__ import annotations

from typing import Any

import pytest
import torch
from compressor_detection.layout import RawLayout
from compressor_detection.models.torchvision_detectors import (
    SUPPORTED_ARCHS,
    build_torchvision_detector,
    unfreeze_batchnorm,
)
from compressor_detection.models.torchvision_protocol import (
    decode_deltas,
    decode_linear,
    torchvision_targets,
)
from compressor_detection.task import DetectionTask
from torch import nn
from torchvision.models.detection._utils import BoxCoder, BoxLinearCoder
from torchvision.ops.misc import FrozenBatchNorm2d

from compressor.errors import UsageError

SHAPE = (3, 64, 64)
TARGETS = DetectionTask().collate(
    [
        torch.tensor([[1, 0.1, 0.1, 0.6, 0.5, 0], [0, 0.5, 0.5, 0.9, 0.95, 1]]),
        torch.zeros(0, 6),
    ]
)


def anchors_and_codes(count: int) -> tuple[torch.Tensor, torch.Tensor]:
    generator = torch.Generator().manual_seed(0)
    corner = torch.rand(count, 2, generator=generator) * 50
    anchors = torch.cat([corner, corner + 4 + torch.rand(count, 2, generator=generator) * 20], -1)
    return anchors, torch.randn(2, count, 4, generator=generator)


def test_decoding_every_anchor_at_once_is_torchvisions_decoding() -> None:
    anchors, codes = anchors_and_codes(7)
    coder = BoxCoder(weights=(10.0, 10.0, 5.0, 5.0))
    mine = decode_deltas(codes, anchors, coder.weights, coder.bbox_xform_clip)
    for image in range(2):
        theirs = coder.decode_single(codes[image], anchors)
        torch.testing.assert_close(mine[image], theirs)
    linear = BoxLinearCoder(normalize_by_size=True)
    torch.testing.assert_close(decode_linear(codes, anchors)[1], linear.decode(codes[1], anchors))


def test_targets_become_pixels_without_padding_difficult_or_degenerate_boxes() -> None:
    targets = torch.tensor(
        [[[1, 0.1, 0.2, 0.5, 0.6, 0], [0, 0.5, 0.5, 0.9, 0.9, 1], [2, 0.3, 0.3, 0.3, 0.5, 0],
          [-1, 0, 0, 0, 0, 0]]]
    )  # fmt: skip
    (image,) = torchvision_targets(targets, (50, 100), 3, 1)
    assert len(image["boxes"]) == 1
    assert image["boxes"][0].tolist() == pytest.approx([10.0, 10.0, 50.0, 30.0])
    assert image["labels"].tolist() == [2]
    with pytest.raises(ValueError, match="class 2, but the detector predicts 2 classes"):
        torchvision_targets(targets, (50, 100), 2, 0)


def test_frozen_batchnorm_becomes_batchnorm_with_the_same_statistics() -> None:
    frozen = FrozenBatchNorm2d(3)
    frozen.running_mean.fill_(0.5)
    model = nn.Sequential(nn.Conv2d(1, 3, 1), frozen)
    x = torch.randn(2, 1, 4, 4)
    expected = model(x)
    assert unfreeze_batchnorm(model) == 1 and isinstance(model[1], nn.BatchNorm2d)
    torch.testing.assert_close(model.eval()(x), expected)


def test_ssdlite_follows_the_protocol() -> None:
    torch.manual_seed(0)
    model: Any = build_torchvision_detector("ssdlite320_mobilenet_v3_large", 2, (1, 64, 64))
    assert model.raw_layout == RawLayout(classes=3, boxes=4, quality=0, activation="softmax")
    x = torch.randn(2, 1, 64, 64)
    model.train()
    raw = model(x)
    loss = model.loss(raw, TARGETS)
    loss.backward()
    assert torch.isfinite(loss) and raw.shape == (2, len(model.anchors), 3 + 4)
    model.eval()
    with torch.no_grad():
        boxes, scores = model.boxes_and_scores(model(x))
        deployed = DetectionTask().deployable(model)(x)
    assert boxes.shape == (2, len(model.anchors), 4) and scores.shape[-1] == 2
    assert boxes.max() <= 64 and torch.allclose(scores.sum(-1), scores.sum(-1).clamp(max=1))
    assert [tuple(t.shape) for t in deployed] == [(2, 100, 4), (2, 100), (2, 100)]
    assert len(DetectionTask().kept_whole(model, 2)) == 2


def test_faster_rcnn_trains_and_scores_in_pytorch() -> None:
    torch.manual_seed(0)
    model: Any = build_torchvision_detector("fasterrcnn_mobilenet_v3_large_320_fpn", 2, SHAPE)
    x = torch.randn(2, *SHAPE)
    model.train()
    raw = model(x)
    assert raw.dim() == 3 and raw.shape[1] == 256
    loss = model.loss(raw, TARGETS)
    loss.backward()
    assert torch.isfinite(loss)
    model.eval()
    with torch.no_grad():
        boxes, scores = model.boxes_and_scores(model(x))
    assert boxes.shape[:2] == scores.shape[:2] and scores.shape[-1] == 2
    with pytest.raises(RuntimeError, match="train mode"):
        model.loss(raw.detach(), TARGETS)


def test_unknown_detectors_are_named() -> None:
    with pytest.raises(UsageError, match="fcos_resnet50_fpn"):
        build_torchvision_detector("yolo", 2, SHAPE)
    assert "retinanet_resnet50_fpn" in SUPPORTED_ARCHS
