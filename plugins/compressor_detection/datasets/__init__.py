"""Detection datasets: ``voc`` (Pascal VOC folders), ``coco`` (COCO instances JSON) and
``mnist_detection`` (canvases of MNIST digits, offline).

Each factory returns a :class:`compressor.data.DataBundle` of task ``detection`` whose splits
are map-style datasets of ``(PIL RGB image, target)``, the target a float32 ``(M, 6)`` array of
rows ``[class, x1, y1, x2, y2, difficult]`` with corners normalized to 0..1 of the image
(:mod:`compressor_detection.datasets.samples`). Only pydantic and compressor's records are
imported here; numpy, PIL and torch load when a recipe first uses a dataset.
"""

from __future__ import annotations

from compressor.records import DatasetPlugin
from compressor_detection.datasets.options import (
    CocoOptions,
    MnistDetectionOptions,
    VocOptions,
)

__all__ = ["DATASET_RECORDS", "CocoOptions", "MnistDetectionOptions", "VocOptions"]

#: The records the package's ``compressor_register_datasets`` hook returns.
DATASET_RECORDS: list[DatasetPlugin] = [
    DatasetPlugin(
        name="voc",
        factory="compressor_detection.datasets.voc:load_voc",
        options=VocOptions,
        description="Pascal VOC folders: images with one XML of boxes each (detection).",
        task="detection",
        modality="image",
    ),
    DatasetPlugin(
        name="coco",
        factory="compressor_detection.datasets.coco:load_coco",
        options=CocoOptions,
        description="A COCO instances JSON file and its image folder (detection).",
        task="detection",
        modality="image",
    ),
    DatasetPlugin(
        name="mnist_detection",
        factory="compressor_detection.datasets.mnist_canvas:load_mnist_detection",
        options=MnistDetectionOptions,
        description="Canvases of 1-3 scattered MNIST digits with their boxes (shipped, offline).",
        task="detection",
        modality="image",
    ),
]
