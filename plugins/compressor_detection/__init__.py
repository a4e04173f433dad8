"""Object detection: the ``detection`` task, detection datasets, detectors and their losses.

Registered through the ``compressor`` entry-point group exactly as a third party's package
would be. Only pydantic is imported here; torch, torchvision and torchmetrics load when a
recipe first uses a detection plugin. See docs/detection.md.
"""

from __future__ import annotations

from compressor import hookimpl
from compressor.records import DatasetPlugin, LossPlugin, ModelPlugin, TaskPlugin
from compressor_detection.options import (
    DenseDetectorOptions,
    DenseKDOptions,
    DetectionOptions,
    NoDetectionOptions,
    PKDOptions,
    TorchvisionDetectorOptions,
)


@hookimpl
def compressor_register_tasks() -> list[TaskPlugin]:
    """Register the ``detection`` task."""
    return [
        TaskPlugin(
            name="detection",
            factory="compressor_detection.task:DetectionTask",
            options=DetectionOptions,
            description="Boxes and classes per image: decode and NMS in the graph, COCO mAP.",
        ),
    ]


@hookimpl
def compressor_register_datasets() -> list[DatasetPlugin]:
    """Register the detection datasets: ``voc``, ``coco`` and ``mnist_detection``."""
    from compressor_detection.datasets import DATASET_RECORDS

    return list(DATASET_RECORDS)


@hookimpl
def compressor_register_models() -> list[ModelPlugin]:
    """Register the detectors."""
    return [
        ModelPlugin(
            name="dense_detector",
            factory="compressor_detection.models.dense:build_dense_detector",
            options=DenseDetectorOptions,
            description="FCOS-like anchor-free detector: conv or torchvision backbone, "
            "FPN-lite neck, per-level heads.",
        ),
        ModelPlugin(
            name="torchvision_detector",
            factory="compressor_detection.models.torchvision_detectors:build_from_options",
            options=TorchvisionDetectorOptions,
            description="A torchvision detector (RetinaNet, FCOS, SSD, SSDlite, Faster R-CNN) "
            "behind the detection protocol.",
        ),
    ]


@hookimpl
def compressor_register_losses() -> list[LossPlugin]:
    """Register the detection losses."""
    return [
        LossPlugin(
            name="detection",
            factory="compressor_detection.losses:DetectionLoss.from_options",
            options=NoDetectionOptions,
            needs_teacher=False,
            inputs="logits",
            tasks=("detection",),
            description="The detector's own supervised loss (dense_detector: FCOS's focal, "
            "GIoU and centerness terms).",
        ),
        LossPlugin(
            name="dense_kd",
            factory="compressor_detection.losses:DenseKDLoss.from_options",
            options=DenseKDOptions,
            needs_teacher=True,
            inputs="logits",
            tasks=("detection",),
            description="Dense-head distillation: softened class maps (x T^2) and box "
            "regression weighted by the teacher's confidence.",
        ),
        LossPlugin(
            name="pkd",
            factory="compressor_detection.losses:PKDLoss.from_options",
            options=PKDOptions,
            needs_teacher=True,
            inputs="features",
            description="Cao et al. 2022: MSE of per-channel standardized feature maps "
            "(Pearson correlation); optionally on the boxes' foreground only.",
        ),
    ]
