"""The detector protocol on torchvision's detector classes (see torchvision_detectors.py).

Each class here subclasses a torchvision detector and only adds methods: a built torchvision
model gets it by a class swap, so its modules, parameter names and weights stay torchvision's.
:func:`prepare` sets what the methods read (class count, input size, the anchors the fixed
input size gives).

- **RetinaNet** (sigmoid classes, box deltas on anchors), **FCOS** (sigmoid classes, linear
  box distances, centerness) and **SSD / SSDlite** (softmax over background + classes, box
  deltas): ``forward`` returns the head outputs over all anchors, ``(N, A, classes + 4
  [+ 1])``; decode and scores are torchvision's math on every anchor at once, so the whole
  deployed form exports to one ONNX graph.
- **Faster R-CNN**: its second stage runs on proposals whose number the first stage's NMS
  decides per image, so it cannot be one fixed-shape graph. ``forward`` returns the FPN's maps
  flattened into one ``(N, 256, positions)`` tensor (a teacher for feature losses, ``pkd``);
  ``loss`` runs the RPN and RoI heads on them with torchvision's losses; ``boxes_and_scores``
  scores in PyTorch (eval mode): per proposal, every class's probability and the box regressed
  for its best class, padded to the batch's most proposals. Not exportable.

Training targets: torchvision has no "ignore" box, so difficult boxes are left out of its
losses; degenerate boxes (no width or height once in pixels) too, which torchvision rejects.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn
from torchvision.models.detection import FCOS, FasterRCNN, RetinaNet
from torchvision.models.detection.image_list import ImageList
from torchvision.models.detection.ssd import SSD

from compressor.errors import UsageError
from compressor_detection.layout import RawLayout


def torchvision_targets(
    targets: torch.Tensor, size: tuple[int, int], num_classes: int, offset: int
) -> list[dict[str, torch.Tensor]]:
    """Padded normalized ``(N, M, 6)`` targets as torchvision's per-image dicts, in pixels.

    Raises:
        ValueError: A class outside ``0..num_classes - 1``.
    """
    height, width = size
    scale = torch.tensor([width, height, width, height], dtype=torch.float32)
    result = []
    for rows in targets.detach().float().cpu():
        rows = rows[(rows[:, 0] >= 0) & (rows[:, 5] <= 0)]
        if len(rows) and int(rows[:, 0].max()) >= num_classes:
            raise ValueError(
                f"a target has class {int(rows[:, 0].max())}, but the detector predicts "
                f"{num_classes} classes"
            )
        boxes = rows[:, 1:5] * scale
        solid = (boxes[:, 2] > boxes[:, 0]) & (boxes[:, 3] > boxes[:, 1])
        result.append(
            {
                "boxes": boxes[solid].to(targets.device),
                "labels": (rows[solid, 0].long() + offset).to(targets.device),
            }
        )
    return result


def decode_deltas(
    deltas: torch.Tensor, anchors: torch.Tensor, weights: tuple[float, ...], clip: float
) -> torch.Tensor:
    """torchvision ``BoxCoder`` decoding of ``(N, A, 4)`` deltas on ``(A, 4)`` anchors."""
    size = anchors[:, 2:] - anchors[:, :2]
    centre = anchors[:, :2] + 0.5 * size
    scale = torch.tensor(weights, dtype=deltas.dtype, device=deltas.device)
    deltas = deltas / scale
    new_centre = deltas[..., :2] * size + centre
    half = 0.5 * torch.exp(deltas[..., 2:].clamp(max=clip)) * size
    return torch.cat([new_centre - half, new_centre + half], -1)


def decode_linear(distances: torch.Tensor, anchors: torch.Tensor) -> torch.Tensor:
    """torchvision ``BoxLinearCoder(normalize_by_size=True)`` decoding, ``(N, A, 4)``."""
    size = (anchors[:, 2:] - anchors[:, :2]).repeat(1, 2)
    centre = (0.5 * (anchors[:, :2] + anchors[:, 2:])).repeat(1, 2)
    sign = torch.tensor([-1.0, -1.0, 1.0, 1.0], dtype=distances.dtype, device=distances.device)
    return centre + distances * size * sign


def clip_to(boxes: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """``boxes`` clipped to an image of ``size`` ``(H, W)``."""
    height, width = size
    limit = torch.tensor([width, height, width, height], dtype=boxes.dtype, device=boxes.device)
    return torch.minimum(boxes.clamp(min=0), limit)


def prepare(model: Any, num_classes: int, input_shape: tuple[int, ...]) -> None:
    """Set what the protocol methods read; compute the anchors the input size fixes."""
    model.num_classes = num_classes
    model.input_size = (int(input_shape[-2]), int(input_shape[-1]))
    was_training = model.training
    model.eval()
    with torch.no_grad():
        x = torch.zeros(1, *input_shape)
        try:
            features = model.backbone(x)
        except RuntimeError as error:  # e.g. SSD300's unpadded 3x3 convs on a small map
            raise UsageError(
                f"{type(model).__bases__[-1].__name__} cannot run on {input_shape[-2]}x"
                f"{input_shape[-1]} inputs (set a larger data.preprocess.resize): "
                f"{str(error).splitlines()[0]}"
            ) from None
        maps = list(features.values())
        if isinstance(model, FasterRCNN):
            model.levels = [(name, m.shape[-2], m.shape[-1]) for name, m in features.items()]
        else:
            anchors = model.anchor_generator(ImageList(x, [model.input_size]), maps)[0]
            model.register_buffer("anchors", anchors, persistent=False)
            model.anchors_per_level = [m.shape[-2] * m.shape[-1] for m in maps]
    model.train(was_training)
    classes = num_classes + 1 if isinstance(model, SSD) else num_classes
    quality = 1 if isinstance(model, FCOS) else 0
    activation = "softmax" if isinstance(model, SSD) else "sigmoid"
    if not isinstance(model, FasterRCNN):
        model.raw_layout = RawLayout(classes, 4, quality, activation)  # type: ignore[arg-type]


class _Dense:
    """What RetinaNet, FCOS and SSD share: features to the head's outputs on every anchor."""

    num_classes: int
    input_size: tuple[int, int]
    raw_layout: RawLayout
    anchors: torch.Tensor
    backbone: nn.Module
    head: nn.Module

    def _head_outputs(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        features = list(self.backbone(x).values())
        outputs: dict[str, torch.Tensor] = self.head(features)
        return outputs

    def _split(self, raw: torch.Tensor) -> dict[str, torch.Tensor]:
        layout = self.raw_layout
        outputs = {
            "cls_logits": raw[..., : layout.classes],
            "bbox_regression": raw[..., layout.box_slice],
        }
        if layout.quality:
            outputs["bbox_ctrness"] = raw[..., layout.quality_slice]
        return outputs


class RetinaNetDetector(_Dense, RetinaNet):
    """RetinaNet behind the protocol: raw ``(N, A, C + 4)``."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        outputs = self._head_outputs(x)
        return torch.cat([outputs["cls_logits"], outputs["bbox_regression"]], -1)

    def boxes_and_scores(self, raw: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Decoded anchor boxes, sigmoid class probabilities."""
        parts = self._split(raw.float())
        coder = self.box_coder
        boxes = decode_deltas(
            parts["bbox_regression"], self.anchors, coder.weights, coder.bbox_xform_clip
        )
        return clip_to(boxes, self.input_size), torch.sigmoid(parts["cls_logits"])

    def loss(self, raw: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        """torchvision's focal and box losses."""
        wanted = torchvision_targets(targets, self.input_size, self.num_classes, 0)
        losses = self.compute_loss(wanted, self._split(raw.float()), [self.anchors] * len(raw))
        return torch.stack(list(losses.values())).sum()

    def output_layers(self) -> list[nn.Module]:
        """The class and box layers."""
        paths = ("head.classification_head.cls_logits", "head.regression_head.bbox_reg")
        return [self.get_submodule(path) for path in paths]


class FCOSDetector(_Dense, FCOS):
    """FCOS behind the protocol: raw ``(N, A, C + 4 + 1)``."""

    anchors_per_level: list[int]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        outputs = self._head_outputs(x)
        keys = ("cls_logits", "bbox_regression", "bbox_ctrness")
        return torch.cat([outputs[key] for key in keys], -1)

    def boxes_and_scores(self, raw: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Linear box decoding; ``sqrt(sigmoid(class) * sigmoid(centerness))`` as FCOS scores."""
        parts = self._split(raw.float())
        boxes = clip_to(decode_linear(parts["bbox_regression"], self.anchors), self.input_size)
        scores = torch.sqrt(
            torch.sigmoid(parts["cls_logits"]) * torch.sigmoid(parts["bbox_ctrness"])
        )
        return boxes, scores

    def loss(self, raw: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        """torchvision's focal, GIoU and centerness losses."""
        wanted = torchvision_targets(targets, self.input_size, self.num_classes, 0)
        losses = self.compute_loss(
            wanted, self._split(raw.float()), [self.anchors] * len(raw), self.anchors_per_level
        )
        return torch.stack(list(losses.values())).sum()

    def output_layers(self) -> list[nn.Module]:
        """The class, box and centerness layers."""
        paths = (
            "classification_head.cls_logits",
            "regression_head.bbox_reg",
            "regression_head.bbox_ctrness",
        )
        return [self.get_submodule(f"head.{path}") for path in paths]


class SSDDetector(_Dense, SSD):
    """SSD and SSDlite behind the protocol: raw ``(N, A, 1 + C + 4)``, background first."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        outputs = self._head_outputs(x)
        return torch.cat([outputs["cls_logits"], outputs["bbox_regression"]], -1)

    def boxes_and_scores(self, raw: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Decoded anchor boxes; softmax probabilities of the classes (background dropped)."""
        parts = self._split(raw.float())
        coder = self.box_coder
        boxes = decode_deltas(
            parts["bbox_regression"], self.anchors, coder.weights, coder.bbox_xform_clip
        )
        scores = F.softmax(parts["cls_logits"], dim=-1)[..., 1:]
        return clip_to(boxes, self.input_size), scores

    def loss(self, raw: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        """torchvision's hard-negative-mined classification and smooth-L1 box losses."""
        from torchvision.ops import box_iou

        wanted = torchvision_targets(targets, self.input_size, self.num_classes, 1)
        matched = []
        for target in wanted:
            if target["boxes"].numel() == 0:
                matched.append(
                    torch.full((len(self.anchors),), -1, dtype=torch.int64, device=raw.device)
                )
            else:
                matched.append(self.proposal_matcher(box_iou(target["boxes"], self.anchors)))
        losses = self.compute_loss(
            wanted, self._split(raw.float()), [self.anchors] * len(raw), matched
        )
        return torch.stack(list(losses.values())).sum()

    def output_layers(self) -> list[nn.Module]:
        """Every level's class and box predictors."""
        paths = ("head.classification_head.module_list", "head.regression_head.module_list")
        return [self.get_submodule(path) for path in paths]


class FasterRCNNDetector(FasterRCNN):
    """Faster R-CNN behind the protocol, as far as a two-stage detector goes (module docstring)."""

    num_classes: int
    input_size: tuple[int, int]
    levels: list[tuple[str, int, int]]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        features = self.backbone(x)
        return torch.cat([m.flatten(2) for m in features.values()], dim=2)

    def _unflatten(self, raw: torch.Tensor) -> tuple[OrderedDict[str, torch.Tensor], ImageList]:
        sizes = [h * w for _, h, w in self.levels]
        maps = raw.split(sizes, dim=2)
        features = OrderedDict(
            (name, m.reshape(*m.shape[:2], h, w))
            for (name, h, w), m in zip(self.levels, maps, strict=True)
        )
        # The anchor generator reads the images' size only.
        images = ImageList(
            raw.new_zeros(len(raw), 1, *self.input_size), [self.input_size] * len(raw)
        )
        return features, images

    def loss(self, raw: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        """torchvision's RPN and RoI head losses (train mode)."""
        if not self.training:
            raise RuntimeError("Faster R-CNN computes its losses in train mode")
        wanted = torchvision_targets(targets, self.input_size, self.num_classes, 1)
        features, images = self._unflatten(raw)
        proposals, rpn_losses = self.rpn(images, features, wanted)
        _, head_losses = self.roi_heads(features, proposals, images.image_sizes, wanted)
        return torch.stack([*rpn_losses.values(), *head_losses.values()]).sum()

    def boxes_and_scores(self, raw: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Per proposal: each class's probability, the box regressed for its best class."""
        if self.training:
            raise RuntimeError("Faster R-CNN scores proposals in eval mode")
        features, images = self._unflatten(raw.float())
        proposals, _ = self.rpn(images, features)
        heads = self.roi_heads
        pooled = heads.box_head(heads.box_roi_pool(features, proposals, images.image_sizes))
        logits, deltas = heads.box_predictor(pooled)
        boxes = heads.box_coder.decode(deltas, proposals)  # (proposals, 1 + C, 4)
        probabilities = F.softmax(logits, dim=-1)[:, 1:]
        best = probabilities.argmax(-1) + 1
        chosen = clip_to(boxes[torch.arange(len(boxes)), best], self.input_size)
        counts = [len(p) for p in proposals]
        most = max(counts)
        out_boxes = raw.new_zeros(len(raw), most, 4)
        out_scores = raw.new_zeros(len(raw), most, self.num_classes)
        for i, (box, score) in enumerate(
            zip(chosen.split(counts), probabilities.split(counts), strict=True)
        ):
            out_boxes[i, : len(box)], out_scores[i, : len(score)] = box, score
        return out_boxes, out_scores

    def output_layers(self) -> list[nn.Module]:
        """The RPN's and the box predictor's layers, and the FPN's output convolutions, whose
        channels feed the RPN and the RoI heads, which a trace of ``forward`` never reaches."""
        return [
            self.rpn.head.cls_logits,
            self.rpn.head.bbox_pred,
            self.roi_heads.box_predictor,
            self.backbone.fpn.layer_blocks,
        ]
