"""FCOS's training targets and loss for a dense detector's raw output (Tian et al. 2019).

Assignment, per image and point: a point is a candidate for a ground-truth box when it lies
inside the box and within ``CENTER_RADIUS`` strides of its centre (FCOS's centre sampling),
and the largest of its four distances to the box's sides falls in its level's range
(:func:`level_bounds`). Among several candidates it takes the smallest box. A point whose box
is ``difficult`` is ignored: no class loss (it is neither object nor background), no box loss.

Loss, summed: sigmoid focal loss over every point and class (alpha 0.25, gamma 2), divided by
the number of positive points; GIoU loss of the decoded boxes on positive points, weighted by
their centerness target and divided by that weight's sum; binary cross-entropy of the
centerness logit on positive points, divided by their number. The counts are the batch's (at
least 1), so an image without objects still trains its background.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch
import torch.nn.functional as F
from torchvision.ops import generalized_box_iou_loss, sigmoid_focal_loss

if TYPE_CHECKING:
    from compressor_detection.models.dense import DenseDetector

#: FCOS's centre sampling radius, in strides of the point's level.
CENTER_RADIUS = 1.5
#: A level of stride s takes boxes whose largest point-to-side distance is up to this times s
#: (FCOS: 64 px at stride 8, 128 at 16, ...); the coarsest level takes every larger one.
RANGE_PER_STRIDE = 8.0
#: Labels of points that are background, or ignored (on a difficult box).
BACKGROUND, IGNORED = -1, -2


def level_bounds(strides: torch.Tensor) -> torch.Tensor:
    """``(A, 2)`` [low, high] of the largest point-to-side distance each point's level takes."""
    levels = torch.unique(strides)
    high = levels * RANGE_PER_STRIDE
    high[-1] = float("inf")
    low = torch.cat([torch.zeros(1), high[:-1]])
    index = torch.searchsorted(levels, strides)
    return torch.stack([low[index], high[index]], dim=1)


def assign(
    points: torch.Tensor,
    strides: torch.Tensor,
    bounds: torch.Tensor,
    boxes: torch.Tensor,
    targets: torch.Tensor,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Each point's class and box (see the module docstring).

    Args:
        points: ``(A, 2)`` point centres in input pixels.
        strides: ``(A,)`` each point's stride.
        bounds: ``(A, 2)`` each point's distance range.
        boxes: ``(N, M, 4)`` the targets' boxes in input pixels.
        targets: ``(N, M, 6)`` the normalized targets (class, ..., difficult).

    Returns:
        ``(labels (N, A) long: class, BACKGROUND or IGNORED; boxes (N, A, 4); centerness
        (N, A), 0 off positive points)``.
    """
    px, py = points[None, :, None, 0], points[None, :, None, 1]  # (1, A, 1)
    x1, y1, x2, y2 = (boxes[:, None, :, i] for i in range(4))  # (N, 1, M)
    sides = torch.stack([px - x1, py - y1, x2 - px, y2 - py], dim=-1)  # (N, A, M, 4)
    radius = CENTER_RADIUS * strides[None, :, None]
    near_centre = ((px - (x1 + x2) / 2).abs() < radius) & ((py - (y1 + y2) / 2).abs() < radius)
    largest = sides.amax(dim=-1)
    in_range = (largest >= bounds[None, :, None, 0]) & (largest <= bounds[None, :, None, 1])
    valid = (targets[:, None, :, 0] >= 0) & (sides.amin(dim=-1) > 0)
    candidate = valid & near_centre & in_range
    area = ((x2 - x1) * (y2 - y1)).expand_as(candidate)
    area = torch.where(candidate, area, torch.full_like(area, float("inf")))
    smallest, chosen = area.min(dim=2)  # (N, A)
    positive = torch.isfinite(smallest)
    picked = chosen.unsqueeze(-1)
    classes = targets[..., 0].gather(1, chosen).long()
    difficult = targets[..., 5].gather(1, chosen) > 0
    labels = torch.where(positive, classes, torch.full_like(classes, BACKGROUND))
    labels = torch.where(positive & difficult, torch.full_like(labels, IGNORED), labels)
    assigned = boxes.gather(1, picked.expand(-1, -1, 4))
    side = sides.gather(2, picked[..., None].expand(-1, -1, 1, 4)).squeeze(2).clamp(min=1e-6)
    ratio_x = side[..., [0, 2]].amin(-1) / side[..., [0, 2]].amax(-1)
    ratio_y = side[..., [1, 3]].amin(-1) / side[..., [1, 3]].amax(-1)
    centerness = torch.sqrt(ratio_x * ratio_y) * (labels >= 0)
    return labels, assigned, centerness


def fcos_loss(model: DenseDetector, raw: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """The loss of ``model``'s raw output ``(N, A, C + 5)`` on a batch of targets.

    Raises:
        ValueError: A target's class is not one of the model's.
    """
    raw = raw.float()
    targets = targets.to(raw.device, torch.float32)
    c = model.num_classes
    largest = int(targets[..., 0].max()) if targets.numel() else -1
    if largest >= c:
        raise ValueError(
            f"a target has class {largest}, but the detector predicts {c} classes (0..{c - 1})"
        )
    height, width = model.input_size
    scale = torch.tensor([width, height, width, height], dtype=raw.dtype, device=raw.device)
    labels, boxes, centerness = assign(
        model.points, model.strides, model.bounds, targets[..., 1:5] * scale, targets
    )
    positive = labels >= 0
    count = positive.sum().clamp(min=1).to(raw.dtype)
    one_hot = F.one_hot(labels.clamp(min=0), c).to(raw.dtype) * positive[..., None]
    weight = (labels != IGNORED).to(raw.dtype)[..., None]
    logits = raw[..., :c]
    class_loss = (sigmoid_focal_loss(logits, one_hot, reduction="none") * weight).sum() / count
    predicted = model.decode_boxes(raw[..., c : c + 4])[positive]
    target_ctr = centerness[positive]
    box_loss = (
        generalized_box_iou_loss(predicted, boxes[positive], reduction="none") * target_ctr
    ).sum() / target_ctr.sum().clamp(min=1e-6)
    ctr_loss = (
        F.binary_cross_entropy_with_logits(raw[..., c + 4][positive], target_ctr, reduction="sum")
        / count
    )
    return class_loss + box_loss + ctr_loss
