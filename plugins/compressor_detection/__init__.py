"""Object detection: the ``detection`` task, detection datasets, detectors and their losses.

Registered through the ``compressor`` entry-point group exactly as a third party's package
would be. Only pydantic is imported here; torch, torchvision and torchmetrics load when a
recipe first uses a detection plugin.
"""

from __future__ import annotations

from compressor import hookimpl
from compressor.records import DatasetPlugin, LossPlugin, ModelPlugin, TaskPlugin


@hookimpl
def compressor_register_tasks() -> list[TaskPlugin]:
    """Register the ``detection`` task."""
    return []


@hookimpl
def compressor_register_datasets() -> list[DatasetPlugin]:
    """Register the detection datasets: ``voc``, ``coco`` and ``mnist_detection``."""
    from compressor_detection.datasets import DATASET_RECORDS

    return list(DATASET_RECORDS)


@hookimpl
def compressor_register_models() -> list[ModelPlugin]:
    """Register the detectors."""
    return []


@hookimpl
def compressor_register_losses() -> list[LossPlugin]:
    """Register the detection losses."""
    return []
