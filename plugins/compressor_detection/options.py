"""The options schemas of the detection task, detectors and losses (pydantic alone).

Imported by the hook module, so ``compressor plugins`` and ``compressor schema`` show them
without importing torch.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import Field, field_validator, model_validator

from compressor.schemas import StrictModel

PositiveInt = Annotated[int, Field(ge=1)]

#: The torchvision networks the dense detector can stand on (their feature layers).
BACKBONES = ("conv", "mobilenet_v3_small", "mobilenet_v3_large", "resnet18")


class DetectionOptions(StrictModel):
    """Options of the ``detection`` task (the recipe's ``task: {name: detection, options}``)."""

    metric: Literal["map", "map50"] = Field(
        default="map",
        description="Headline metric: map (COCO mAP@[.5:.95]) or map50 (mAP at IoU 0.5).",
    )
    max_detections: PositiveInt = Field(
        default=100, description="Rows K of the deployed outputs: detections kept per image."
    )
    score_threshold: float = Field(
        default=0.05,
        ge=0.0,
        lt=1.0,
        description="Detections scored below it are dropped (padding rows in the outputs).",
    )
    nms_iou: float = Field(
        default=0.5,
        gt=0.0,
        le=1.0,
        description="Non-maximum suppression: a box overlapping a higher-scored box of its "
        "class by more than this IoU is dropped.",
    )
    candidates: PositiveInt = Field(
        default=200,
        description="(anchor, class) pairs per image considered by NMS (pre-NMS top-k); its "
        "cost grows with its square.",
    )

    @model_validator(mode="after")
    def _enough_candidates(self) -> DetectionOptions:
        # More rows than candidates would only ever be padding.
        if self.candidates < self.max_detections:
            raise ValueError(
                f"candidates ({self.candidates}) must be at least max_detections "
                f"({self.max_detections})"
            )
        return self


class DenseDetectorOptions(StrictModel):
    """Options of ``dense_detector``: backbone, FPN-lite neck and FCOS-like head."""

    backbone: Literal["conv", "mobilenet_v3_small", "mobilenet_v3_large", "resnet18"] = Field(
        default="conv",
        description="conv: the built-in conv backbone (channels, depth); or a torchvision "
        "network's feature layers (random init; weights through the model's weights: field).",
    )
    channels: list[PositiveInt] = Field(
        default_factory=lambda: [16, 32, 64, 96, 128],
        min_length=1,
        description="conv backbone: output channels of each stage; each stage halves the "
        "resolution (stage i has stride 2^(i+1)).",
    )
    depth: int = Field(
        default=1,
        ge=0,
        description="conv backbone: 3x3 convs after the strided one in each stage at the "
        "finest level's stride or coarser (the stages before only downsample).",
    )
    levels: list[PositiveInt] = Field(
        default_factory=lambda: [8, 16, 32],
        min_length=1,
        description="Strides of the feature maps the head predicts on (powers of 2 the "
        "backbone reaches, e.g. [8, 16, 32]).",
    )
    neck_channels: PositiveInt = Field(
        default=64, description="Channels of the FPN-lite neck's maps (and the head's towers)."
    )
    head_convs: int = Field(
        default=1, ge=0, description="3x3 conv layers in each head tower (class; box)."
    )

    @field_validator("levels")
    @classmethod
    def _powers_of_two(cls, levels: list[int]) -> list[int]:
        if any(level < 2 or level & (level - 1) for level in levels):
            raise ValueError(f"levels must be powers of 2 from 2 up, got {levels}")
        if levels != sorted(set(levels)):
            raise ValueError(f"levels must be increasing and distinct, got {levels}")
        return levels


class NoDetectionOptions(StrictModel):
    """Options of ``detection`` (the loss): none, the model's own loss decides."""


class DenseKDOptions(StrictModel):
    """Options of ``dense_kd``."""

    temperature: float = Field(
        default=2.0,
        gt=0.0,
        description="Temperature T of the soft class targets sigmoid(t/T); the class term is "
        "scaled by T^2.",
    )
    box_weight: float = Field(
        default=1.0,
        ge=0.0,
        description="Weight of the box-regression term (weighted by the teacher's confidence).",
    )


class PKDOptions(StrictModel):
    """Options of ``pkd``."""

    foreground: bool = Field(
        default=False,
        description="Only count feature positions inside the targets' boxes (needs targets).",
    )


class TorchvisionDetectorOptions(StrictModel):
    """Options of ``torchvision_detector`` (recipe shorthand: ``torchvision.ARCH``)."""

    arch: str = Field(
        description="A torchvision detection builder: fasterrcnn_mobilenet_v3_large_fpn, "
        "retinanet_resnet50_fpn, fcos_resnet50_fpn, ssd300_vgg16, ssdlite320_mobilenet_v3_large, "
        "..."
    )
    kwargs: dict[str, Any] = Field(
        default_factory=dict,
        description="Extra builder arguments; num_classes comes from the data, weights from "
        "the model's weights: field (files only).",
    )

    @field_validator("kwargs")
    @classmethod
    def _no_weights_or_classes(cls, kwargs: dict[str, Any]) -> dict[str, Any]:
        for key in ("weights", "weights_backbone", "num_classes", "pretrained"):
            if key in kwargs:
                raise ValueError(
                    f"{key} is set by compressor (classes from the data, weights from the "
                    "model's weights: field); remove it from kwargs"
                )
        return kwargs
