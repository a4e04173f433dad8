"""``detection``: boxes and classes per image, COCO mAP, decode and NMS inside the graph.

The conventions every detection piece shares (datasets, augmentation, detectors, losses,
exporters, the benchmark, ``predict``):

**Input.** float32 ``(N, 3, H, W)``, normalized; ``H, W`` fixed per run (images are
stretch-resized to it).

**One sample's target.** float32 ``(M, 6)``, rows ``[class, x1, y1, x2, y2, difficult]``:
``class`` 0-based and contiguous; box corners normalized to 0..1 of the image (``x / W``,
``y / H``), which a stretch resize leaves unchanged; ``difficult`` 0 or 1 (VOC difficult, COCO
iscrowd: the metric ignores such a box, neither matched nor missed). ``M`` may be 0.

**A batch of targets** (:attr:`compressor.data.DataSplit.labels`, :meth:`DetectionTask.collate`):
float32 ``(N, Mmax, 6)``, padded with rows whose class is -1 (the other fields 0); ``Mmax >= 1``.

**The deployed form** (what an exported ONNX file outputs and every metric reads): three
outputs ``boxes`` float32 ``(N, K, 4)`` xyxy in the model input's pixels, ``scores`` float32
``(N, K)``, ``labels`` int64 ``(N, K)``; ``K`` = ``max_detections``; sorted by score,
descending; padding rows have score 0, label -1, box 0. Static shapes except the batch axis;
an image with no objects gives all padding. :meth:`DetectionTask.deployable` builds it from a
detector (:mod:`compressor_detection.postprocess`).

**The detector protocol** (every detector a detection recipe trains follows it; the built-in
``dense_detector`` and the torchvision wrappers do):

- attributes ``num_classes`` and ``input_size`` ``(H, W)``;
- ``forward(x)`` returns ONE raw tensor (the training loop's feature taps and teacher-output
  cache treat a model's output as one tensor), e.g. ``(N, A, C + 4 + 1)`` over ``A`` anchors;
- ``boxes_and_scores(raw)`` -> ``(boxes (N, A, 4)`` xyxy in input pixels, clipped to the
  image, ``scores (N, A, C)`` in 0..1);
- ``loss(raw, targets)`` -> a scalar, ``targets`` the normalized ``(N, M, 6)`` batch above;
- ``output_layers()`` -> the final class / box / quality layers, never pruned;
- ``raw_layout`` (optional): a :class:`compressor_detection.layout.RawLayout` saying which
  channels of the raw output are classes, boxes and quality, for the dense distillation loss.

This module imports neither torch nor numpy's heavy friends at module level: ``compressor
predict`` reads :meth:`DetectionTask.predictions` with numpy alone.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from compressor.task import Metric, Task
from compressor_detection.augment import DetectionAugmentConfig
from compressor_detection.options import DetectionOptions

if TYPE_CHECKING:
    import torch
    from torch import nn

    from compressor.data import DataBundle
    from compressor_detection.metric import DetectionScorer

#: Module paths of torchvision detectors' final layers, for models without ``output_layers``:
#: RetinaNet, FCOS (adds bbox_ctrness), SSD / SSDlite, Faster R-CNN.
TORCHVISION_HEAD_LAYERS = (
    "head.classification_head.cls_logits",
    "head.regression_head.bbox_reg",
    "head.regression_head.bbox_ctrness",
    "head.classification_head.module_list",
    "head.regression_head.module_list",
    "rpn.head.cls_logits",
    "rpn.head.bbox_pred",
    "roi_heads.box_predictor.cls_score",
    "roi_heads.box_predictor.bbox_pred",
)


class DetectionTask(Task):
    """Object detection (see the module docstring for the conventions and the protocol)."""

    name = "detection"
    outputs = ("boxes", "scores", "labels")
    default_loss = "detection"
    default_distill_losses = (
        {"name": "detection", "weight": 1.0},
        {"name": "dense_kd", "weight": 1.0},
    )
    spatial = True
    target_shape = (-1, 6)
    class_logits = False
    table_columns = ("class", "score", "box")

    def __init__(self, options: DetectionOptions | None = None) -> None:
        super().__init__(options if options is not None else DetectionOptions())
        self.options: DetectionOptions

    @property
    def metric(self) -> Metric:
        """COCO mAP@[.5:.95] (``map``), or mAP at IoU 0.5 (``map50``)."""
        if self.options.metric == "map50":
            return Metric(key="map50", label="mAP@.5")
        return Metric(key="map", label="mAP@[.5:.95]")

    # -- targets ---------------------------------------------------------------------------

    def collate(self, targets: Sequence[Any]) -> torch.Tensor:
        """Per-image ``(M, 6)`` targets as one ``(N, Mmax, 6)`` float32 tensor, padded with
        class -1 rows (``Mmax >= 1``, so an all-empty batch still has one padding row).

        Raises:
            ValueError: A target is not ``(M, 6)``.
        """
        import torch

        rows = [np.asarray(t, dtype=np.float32) for t in targets]
        rows = [row.reshape(0, 6) if row.size == 0 else row for row in rows]
        for index, row in enumerate(rows):
            if row.ndim != 2 or row.shape[1] != 6:
                raise ValueError(
                    f"detection target {index} has shape {row.shape}; expected (M, 6) rows "
                    "[class, x1, y1, x2, y2, difficult]"
                )
        longest = max([len(r) for r in rows] + [1])
        batch = np.zeros((len(rows), longest, 6), dtype=np.float32)
        batch[:, :, 0] = -1.0
        for index, row in enumerate(rows):
            batch[index, : len(row)] = row
        return torch.from_numpy(batch)

    def check_data(self, data: DataBundle) -> str | None:
        """Targets must be ``(N, M, 6)`` padded boxes."""
        shape = tuple(data.train.labels.shape)
        if len(shape) != 3 or shape[-1] != 6:
            return (
                f"dataset {data.name!r} gives targets of shape {shape[1:]} per sample; "
                "detection needs (M, 6) rows [class, x1, y1, x2, y2, difficult] per image"
            )
        return None

    # -- training --------------------------------------------------------------------------

    #: ``data.augment``'s box-aware keys: ``horizontal_flip``, ``scale_jitter``, ``iou_crop``,
    #: ``photometric``, ``min_box_size`` (pydantic alone: the module imports no torch).
    augment_options = DetectionAugmentConfig

    def sample_augment(self, options: Any, seed: int) -> Any:
        """The box-aware augmentation of ``options``, its targets padded back to the split's
        rows (boxes a crop removes become padding); ``None`` when nothing is on."""
        from compressor_detection.augment import DetectionAugment

        if not options.active:
            return None
        return PaddedBoxes(DetectionAugment(options, seed))

    def kept_whole(self, model: nn.Module, num_classes: int) -> list[nn.Module]:
        """The detector's final class / box / quality layers: ``model.output_layers()`` when
        it has it, else the torchvision detectors' head layers found by module path."""
        output_layers = getattr(model, "output_layers", None)
        if callable(output_layers):
            return list(output_layers())
        modules = dict(model.named_modules())
        found = []
        for path in TORCHVISION_HEAD_LAYERS:
            for prefix in ("", "detector.", "model."):
                if prefix + path in modules:
                    found.append(modules[prefix + path])
        return found

    # -- outputs and metric ----------------------------------------------------------------

    def deployable(self, model: nn.Module) -> nn.Module:
        """The detector followed by decode, Fast NMS and padding to ``max_detections`` rows.

        Raises:
            TypeError: ``model`` does not follow the detector protocol (no
                ``boxes_and_scores``).
        """
        from compressor_detection.postprocess import DeployedDetector, Postprocess

        if isinstance(model, DeployedDetector):
            return model
        options = self.options
        postprocess = Postprocess(
            max_detections=options.max_detections,
            candidates=options.candidates,
            nms_iou=options.nms_iou,
            score_threshold=options.score_threshold,
        )
        return DeployedDetector(model, postprocess)

    def scorer(self, data: DataBundle) -> DetectionScorer:
        """COCO mAP over ``data``'s classes, targets scaled to its input shape."""
        from compressor_detection.metric import DetectionScorer

        names = list(data.class_names) or [str(i) for i in range(data.num_classes)]
        return DetectionScorer(data.input_shape, names, self.options.max_detections)

    # -- deployment ------------------------------------------------------------------------

    def metadata(self, data: DataBundle) -> dict[str, Any]:
        """The postprocessing settings and the model input's ``(H, W)`` (``model_input``)."""
        options = self.options
        return {
            "box_format": "xyxy, model input pixels",
            "max_detections": options.max_detections,
            "score_threshold": options.score_threshold,
            "nms_iou": options.nms_iou,
            "candidates": options.candidates,
            "model_input": [int(data.input_shape[-2]), int(data.input_shape[-1])],
        }

    def predictions(
        self, outputs: Sequence[np.ndarray], recorded: dict[str, Any], *, top: int = 5
    ) -> list[dict[str, Any]]:
        """Each input's detections, boxes in the ORIGINAL image's pixels.

        Args:
            outputs: ``[boxes, scores, labels]`` for a batch.
            recorded: The file's metadata: ``class_names``; ``model_input`` ``(H, W)`` of the
                graph input and ``input_size`` (each input's original ``(h, w)``, a list) to
                map boxes back (without them boxes stay in model-input pixels); ``threshold``
                (``predict``'s) or the recorded ``score_threshold``.
            top: Unused: every detection above the threshold is reported.

        Returns:
            ``[{"detections": [{"box": [x1, y1, x2, y2], "class": name, "index": i,
            "score": s}, ...]}, ...]``, one per input, by descending score.
        """
        boxes, scores, labels = (np.asarray(o) for o in outputs[:3])
        names = list(recorded.get("class_names") or [])
        threshold = float(
            recorded.get("threshold", recorded.get("score_threshold", self.options.score_threshold))
        )
        sizes = recorded.get("input_size")
        model_input = recorded.get("model_input")
        results = []
        for i in range(len(scores)):
            scale = np.ones(4)
            if sizes is not None and model_input is not None:
                (height, width), (model_h, model_w) = sizes[i], model_input
                scale = np.array([width / model_w, height / model_h] * 2, dtype=np.float64)
            detections = []
            for row in np.argsort(-scores[i], kind="stable"):
                score, index = float(scores[i][row]), int(labels[i][row])
                if index < 0 or score <= 0 or score < threshold:
                    continue
                detections.append(
                    {
                        "box": [float(v) for v in boxes[i][row].astype(np.float64) * scale],
                        "class": names[index] if index < len(names) else f"class {index}",
                        "index": index,
                        "score": score,
                    }
                )
            results.append({"detections": detections})
        return results

    def table(self, prediction: dict[str, Any]) -> list[list[str]]:
        """One row per detection (``class``, ``score``, ``x1, y1, x2, y2`` in pixels); one
        ``(none)`` row for an input without detections, so that it is still listed."""
        rows = [
            [found["class"], f"{found['score']:.3f}", ", ".join(f"{v:.1f}" for v in found["box"])]
            for found in prediction["detections"]
        ]
        return rows or [["(none)", "", ""]]


class PaddedBoxes:
    """A box-aware augmentation in the call a split makes: ``(image, target, index, epoch)``
    with the sample's padded ``(M, 6)`` target row in, the same shape out (the boxes that remain
    first, then class -1 rows). Picklable."""

    def __init__(self, augment: Any) -> None:
        self.augment = augment

    def __call__(self, image: Any, target: Any, index: int, epoch: int) -> tuple[Any, Any]:
        """``image`` and its boxes augmented as sample ``index`` is in ``epoch``."""
        import torch

        image, rows = self.augment(image, target, index, epoch)
        padded = torch.zeros_like(target)
        padded[:, 0] = -1.0
        kept = torch.as_tensor(rows, dtype=target.dtype).reshape(-1, 6)
        padded[: len(kept)] = kept
        return image, padded
