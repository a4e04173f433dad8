"""The ``detection`` task's scorer: COCO mAP through torchmetrics, on the deployed outputs.

One implementation for every evaluation: the deployed form's outputs (``boxes``, ``scores``,
``labels`` as numpy arrays, from PyTorch during training or from an ONNX file in
onnxruntime) against the split's targets. The average precision itself is torchmetrics'
``MeanAveragePrecision`` on the ``faster_coco_eval`` backend (COCOeval's rules, exactly), never
a hand-written one.

Targets are normalized ``[class, x1, y1, x2, y2, difficult]`` rows padded with class -1; they
are scaled to the model input's pixels (the outputs' frame) here. A ``difficult`` box (VOC
difficult, COCO iscrowd) goes to COCOeval as a crowd: a detection on it is neither a true nor a
false positive, and missing it costs nothing.

Only numpy at import time; torch and torchmetrics load in :meth:`DetectionScorer.compute`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

#: One image's detections or ground truth: ``(boxes (M, 4), scores or crowd flags (M,),
#: labels (M,))``.
Rows = tuple[np.ndarray, np.ndarray, np.ndarray]


class DetectionScorer:
    """Accumulates detections and ground truth per image; computes mAP (a task ``Scorer``).

    Args:
        input_shape: ``(3, H, W)`` of the model input: normalized targets are scaled by it.
        class_names: One name per class, for ``per_class``.
        max_detections: The detections per image COCOeval counts (the deployed ``K``).
    """

    def __init__(
        self, input_shape: Sequence[int], class_names: Sequence[str], max_detections: int = 100
    ) -> None:
        height, width = int(input_shape[-2]), int(input_shape[-1])
        self.scale = np.array([width, height, width, height], dtype=np.float64)
        self.class_names = list(class_names)
        self.max_detections = max_detections
        self.detections: list[Rows] = []
        self.truths: list[Rows] = []

    def update(self, outputs: Sequence[np.ndarray], targets: np.ndarray) -> None:
        """Add one batch: ``outputs`` are ``[boxes (N, K, 4), scores (N, K), labels (N, K)]``
        in input pixels; ``targets`` the ``(N, M, 6)`` normalized rows (padding: class -1).

        Raises:
            ValueError: The outputs are not the three deployed arrays, or their batch differs
                from the targets'.
        """
        if len(outputs) < 3:
            raise ValueError(
                f"detection scoring needs the outputs boxes, scores, labels; got {len(outputs)}"
            )
        boxes, scores, labels = (np.asarray(o) for o in outputs[:3])
        truth = np.asarray(targets, dtype=np.float64)
        if truth.ndim != 3 or truth.shape[-1] != 6:
            raise ValueError(f"detection targets must be (N, M, 6), got {truth.shape}")
        if not len(boxes) == len(scores) == len(labels) == len(truth):
            raise ValueError(
                f"batch sizes differ: boxes {len(boxes)}, scores {len(scores)}, labels "
                f"{len(labels)}, targets {len(truth)}"
            )
        for i in range(len(truth)):
            found = labels[i] >= 0
            self.detections.append(
                (
                    boxes[i][found].astype(np.float32),
                    scores[i][found].astype(np.float32),
                    labels[i][found].astype(np.int64),
                )
            )
            rows = truth[i][truth[i, :, 0] >= 0]
            self.truths.append(
                (
                    (rows[:, 1:5] * self.scale).astype(np.float32),
                    (rows[:, 5] > 0).astype(np.int64),
                    rows[:, 0].astype(np.int64),
                )
            )

    def state(self) -> dict[str, list[Rows]]:
        """Every image's detections and ground truth so far (numpy arrays: picklable)."""
        return {"detections": self.detections, "truths": self.truths}

    def merge(self, states: Sequence[Any]) -> None:
        """Add other scorers' images (torchrun's other ranks)."""
        for other in states:
            self.detections.extend(other["detections"])
            self.truths.extend(other["truths"])

    def compute(self) -> dict[str, Any]:
        """``{"map", "map50", "map75", "per_class": {name: AP}}``, floats in 0..1.

        NaN where nothing can be scored: every figure without images or ground truth, a class's
        AP when the split has none of that class (COCOeval leaves such classes out of ``map``).
        """
        nothing = {name: math.nan for name in self.class_names}
        if not self.truths or not any(len(t[2]) for t in self.truths):
            return {"map": math.nan, "map50": math.nan, "map75": math.nan, "per_class": nothing}
        result = self._torchmetrics()
        per_class = dict(nothing)
        for index, value in zip(
            result["classes"].reshape(-1).tolist(),
            result["map_per_class"].reshape(-1).tolist(),
            strict=True,
        ):
            name = self.class_names[index] if index < len(self.class_names) else str(index)
            per_class[name] = _figure(value)
        return {
            "map": _figure(float(result["map"])),
            "map50": _figure(float(result["map_50"])),
            "map75": _figure(float(result["map_75"])),
            "per_class": per_class,
        }

    def _torchmetrics(self) -> dict[str, Any]:
        """torchmetrics' figures for every image accumulated."""
        import torch
        from torchmetrics.detection import MeanAveragePrecision

        metric = MeanAveragePrecision(
            backend="faster_coco_eval",
            iou_type="bbox",
            class_metrics=True,
            # COCOeval's mAP counts the detections up to the last threshold: all of them.
            max_detection_thresholds=[1, 10, max(self.max_detections, 10)],
        )
        predictions = [
            {
                "boxes": torch.from_numpy(boxes),
                "scores": torch.from_numpy(scores),
                "labels": torch.from_numpy(labels),
            }
            for boxes, scores, labels in self.detections
        ]
        truths = [
            {
                "boxes": torch.from_numpy(boxes),
                "labels": torch.from_numpy(labels),
                "iscrowd": torch.from_numpy(crowd),
            }
            for boxes, crowd, labels in self.truths
        ]
        metric.update(predictions, truths)
        computed: dict[str, Any] = metric.compute()
        return computed


def _figure(value: float) -> float:
    """torchmetrics' "not defined" (-1) as NaN."""
    return math.nan if value < 0 else float(value)
