"""The dense detector: the protocol's shapes, FCOS's assignment, training, width, backbones."""

from __future__ import annotations

from typing import Literal, cast

import pytest
import torch
from compressor_detection.models.dense import build_dense_detector
from compressor_detection.models.fcos_loss import BACKGROUND, IGNORED, assign
from compressor_detection.options import DenseDetectorOptions, DetectionOptions
from compressor_detection.task import DetectionTask
from pydantic import ValidationError
from torch import nn

from compressor.errors import UsageError
from compressor.model.width import scale_width
from tests.plugins.detection.canvases import make_canvases
from tests.plugins.detection.detectors import ANCHORS, CLASSES, SHAPE, TINY, tiny_detector


def test_the_protocol_shapes_and_ranges() -> None:
    model = tiny_detector().eval()
    assert model.num_classes == CLASSES and model.input_size == (64, 64)
    raw = model(torch.randn(2, *SHAPE))
    assert raw.shape == (2, ANCHORS, CLASSES + 5)
    boxes, scores = model.boxes_and_scores(raw)
    assert boxes.shape == (2, ANCHORS, 4) and scores.shape == (2, ANCHORS, CLASSES)
    assert boxes.min() >= 0 and boxes.max() <= 64 and (boxes[..., 2:] >= boxes[..., :2]).all()
    assert 0 <= scores.min() and scores.max() <= 1
    assert len(model.output_layers()) == 3 * 2  # class, box, centerness per level
    assert model.points[0].tolist() == [4.0, 4.0] and model.points[-1].tolist() == [56.0, 56.0]


def test_points_go_to_the_smallest_box_whose_centre_they_are_near() -> None:
    model = tiny_detector()
    # One image: a 24 px box (class 2) centred at (20, 20), a difficult one (class 1) at
    # (44, 44); a second image without objects.
    targets = torch.tensor(
        [
            [[2, 8 / 64, 8 / 64, 32 / 64, 32 / 64, 0], [1, 36 / 64, 36 / 64, 52 / 64, 52 / 64, 1]],
            [[-1, 0, 0, 0, 0, 0], [-1, 0, 0, 0, 0, 0]],
        ]
    )
    labels, boxes, centerness = assign(
        model.points, model.strides, model.bounds, targets[..., 1:5] * 64, targets
    )
    stride8 = labels[0, :64].view(8, 8)
    # Points at 12, 20, 28 px lie within 1.5 strides (12 px) of the centre 20: rows/cols 1-3.
    assert (stride8[1:4, 1:4] == 2).all() and (stride8 == 2).sum() == 9
    assert (stride8[5:6, 5:6] == IGNORED).all()
    assert (labels[1] == BACKGROUND).all() and (labels[0, 64:] == BACKGROUND).all()
    centre = 2 * 8 + 2  # the point at (20, 20): equal distances, centerness 1
    assert centerness[0, centre] == pytest.approx(1.0)
    assert boxes[0, centre].tolist() == [8.0, 8.0, 32.0, 32.0]
    assert (centerness[0][labels[0] < 0] == 0).all()


def test_it_learns_a_few_canvases() -> None:
    model = tiny_detector(classes=10)
    x, targets = make_canvases(4, size=64, digit_size=(18, 26), seed=5)
    y = DetectionTask().collate(targets)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
    losses = []
    for _ in range(25):
        loss = model.loss(model(x), y)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    assert losses[-1] < 0.5 * losses[0]


def test_a_class_the_detector_does_not_predict_is_named() -> None:
    model = tiny_detector()
    targets = torch.tensor([[[CLASSES, 0.1, 0.1, 0.5, 0.5, 0]]])
    with pytest.raises(ValueError, match=f"class {CLASSES}, but the detector predicts"):
        model.loss(model(torch.randn(1, *SHAPE)), targets)


def test_an_empty_batch_still_has_a_finite_loss_with_gradients() -> None:
    model = tiny_detector()
    empty = DetectionTask().collate([torch.zeros(0, 6)] * 2)
    loss = model.loss(model(torch.randn(2, *SHAPE)), empty)
    loss.backward()
    assert torch.isfinite(loss) and model.level_heads[0].cls_logits.weight.grad is not None


def test_width_narrows_everything_but_the_output_layers() -> None:
    model = tiny_detector()
    narrow = scale_width(model, 0.5, input_shape=SHAPE, keep=model.output_layers())
    assert narrow is model and cast(nn.Conv2d, model.neck.laterals[0]).out_channels == 8
    assert narrow(torch.randn(1, *SHAPE)).shape == (1, ANCHORS, CLASSES + 5)


@pytest.mark.parametrize("backbone", ["mobilenet_v3_small", "resnet18"])
def test_torchvision_backbones_take_any_channel_count(
    backbone: Literal["mobilenet_v3_small", "resnet18"],
) -> None:
    options = DenseDetectorOptions(backbone=backbone, levels=[8, 16, 32], neck_channels=16)
    model = build_dense_detector(options, input_shape=(1, 64, 64), num_classes=3)
    assert model(torch.randn(1, 1, 64, 64)).shape == (1, 64 + 16 + 4, 3 + 5)
    # Layers past the coarsest level are dropped: they would feed nothing.
    assert len(model.backbone.body) == model.backbone.taps[-1] + 1


def test_a_level_the_backbone_does_not_reach_is_named() -> None:
    with pytest.raises(UsageError, match=r"reaches strides \[2, 4, 8, 16\].*not \[32\]"):
        tiny_detector(options=TINY.model_copy(update={"levels": [8, 32]}))


def test_options_are_checked() -> None:
    with pytest.raises(ValidationError, match="powers of 2"):
        DenseDetectorOptions(levels=[8, 12])
    with pytest.raises(ValidationError, match="increasing"):
        DenseDetectorOptions(levels=[16, 8])
    with pytest.raises(ValidationError, match="at least max_detections"):
        DetectionOptions(max_detections=100, candidates=50)
