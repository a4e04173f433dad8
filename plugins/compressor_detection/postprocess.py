"""From a dense detector's per-anchor boxes and scores to the deployed form, in one graph.

The deployed form (see :mod:`compressor_detection.task`): ``boxes`` float32 ``(N, K, 4)`` xyxy
in input pixels, ``scores`` float32 ``(N, K)``, ``labels`` int64 ``(N, K)``, sorted by score,
padding rows ``(0, 0, 0, 0)``, score 0, label -1. Every shape but the batch axis is fixed when
the model is built, so the whole of it exports to ONNX with a dynamic batch axis and runs the
same in onnxruntime.

How duplicates are suppressed: **Fast NMS** (Bolya et al. 2019, YOLACT, section 3.3). The
``candidates`` best (anchor, class) pairs of each image are taken with one TopK; their pairwise
overlaps are computed by broadcasting; a candidate is dropped when a higher-scored candidate
of the same class overlaps it by more than ``nms_iou``. That is all-parallel: no loop, no
data-dependent shape, each image on its own. It suppresses slightly more than greedy NMS (a box
that was itself suppressed may still suppress another); YOLACT reports a fraction of a point
of mAP for it; on ``benchmarks/detection_family.py``'s teacher it cost nothing (mAP@.5 0.906
Fast NMS, 0.904 greedy; mAP 0.701 and 0.700).

Chosen over greedy NMS through ``torchvision.ops.nms`` (ONNX ``NonMaxSuppression``) by what was
measured here (``benchmarks/detection_postprocess.py``: onnxruntime 1.32, one thread, 2 shared
CPU cores, 200 candidates, 10 classes; medians, noisy to +-30%):

- both export through the dynamo exporter with a dynamic batch axis, both give PyTorch's
  result in onnxruntime (boxes within 2e-5 px, scores within 3e-7, labels equal, an image
  without objects all padding), and both pass the INT8 quantizer's ``quant_pre_process`` (Fast
  NMS after the changes noted in :func:`suppressed`);
- postprocessing latency: batch 1, Fast NMS 0.2-0.5 ms, greedy 0.1-0.3 ms; batch 8 about
  equal (2.3-4.3 ms); batch 32, Fast NMS 16-18 ms, greedy 29-34 ms. ``NonMaxSuppression`` has one
  batch and one class axis while ``torchvision.ops.nms`` has neither, so greedy must run all
  images and classes as one set of boxes shifted apart: quadratic in the batch size, and the
  shift (image x class x image size) grows with the batch until float32 rounds the shifted
  coordinates (0.25 px at batch 64, 80 classes, 640 px): an image's detections would depend on
  its place in the batch. Fast NMS is linear in the batch, and an image's result never
  depends on the others'.

Everything here is float arithmetic, comparisons and index ops (TopK, Gather), no Conv, Gemm
or MatMul: the INT8 quantizer keeps every node after the model's last such layer in float, so
decode and NMS never see quantized values.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import nn


def suppressed(
    boxes: torch.Tensor, classes: torch.Tensor, iou_threshold: float, span: float | None = None
) -> torch.Tensor:
    """Which of the sorted candidates Fast NMS drops: a bool ``(N, k)`` mask.

    Candidate ``i`` goes when some ``j < i`` (scored higher: the candidates are sorted) of the
    same class overlaps it by more than ``iou_threshold``. The classes are kept apart by
    shifting each class's boxes by ``class * span`` (as ``torchvision.ops.batched_nms`` does),
    which costs no operation on the ``(k, k)`` pairs; ``span`` must exceed every coordinate
    (the image's larger side + 1; when ``None``, each image's largest coordinate + 1). The
    shift is at most ``num_classes * span``, far from float32's limits. ``IoU > t`` is tested
    as ``inter > t / (1 + t) * (area_i + area_j)``: no division.

    The pairs are computed by broadcasting, not a matrix product, so that no MatMul follows
    the model's last layer (see the module docstring). Coordinates are split, not unbound,
    and the "any" is a ReduceSum, because onnxruntime's symbolic shape inference (which the
    INT8 quantizer's preprocessing runs) loses the shapes of the Squeeze an unbind exports to
    and of opset 18's ReduceMax; the mask of lower-scored pairs is -1e30, not -inf, which
    overflows it.
    """
    k = boxes.shape[1]
    if span is None:  # TopK, not a max: see above on ReduceMax
        reach: torch.Tensor | float = boxes.flatten(1).topk(1, dim=1).values[..., None] + 1.0
    else:
        reach = span
    shifted = boxes + classes.unsqueeze(-1).to(boxes.dtype) * reach
    # One Split node each (four Slices cost four nodes' overhead).
    x1, y1, x2, y2 = shifted.split(1, dim=-1)  # rows i: (N, k, 1)
    x1_, y1_, x2_, y2_ = shifted.transpose(1, 2).split(1, dim=1)  # columns j: (N, 1, k)
    share = (x2 - x1).clamp(min=0) * (y2 - y1).clamp(min=0) * (iou_threshold / (1 + iou_threshold))
    # Each coordinate on its own: broadcasting (N, k, k, 2) pairs instead runs ten times slower
    # in onnxruntime.
    width = (torch.minimum(x2, x2_) - torch.maximum(x1, x1_)).clamp(min=0)
    height = (torch.minimum(y2, y2_) - torch.maximum(y1, y1_)).clamp(min=0)
    inter = width * height
    # Only a higher-scored j (column j < row i) may suppress i; a constant, folded by
    # onnxruntime when the session starts.
    rank = torch.arange(k, device=boxes.device)
    lower = torch.zeros(k, k, dtype=boxes.dtype, device=boxes.device).masked_fill(
        rank[None, :] >= rank[:, None], -1e30
    )
    excess = inter - share - (share.transpose(1, 2) - lower)
    return torch.relu(excess).sum(dim=-1) > 0


def top_candidates(
    boxes: torch.Tensor, scores: torch.Tensor, candidates: int
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """The ``candidates`` best (anchor, class) pairs of each image.

    Args:
        boxes: ``(N, A, 4)`` per-anchor boxes.
        scores: ``(N, A, C)`` per-anchor class scores.
        candidates: How many pairs to keep (at most ``A * C``).

    Returns:
        ``(boxes (N, k, 4), scores (N, k), classes (N, k) int64)``, sorted by score.
    """
    num_classes = scores.shape[-1]
    flat = scores.flatten(1)
    k = min(candidates, flat.shape[1])
    best, index = flat.topk(k, dim=1)
    # Integer division and remainder: two ops (floor division exports through floats).
    anchor = torch.div(index, num_classes, rounding_mode="trunc")
    classes = torch.remainder(index, num_classes)
    chosen = boxes.gather(1, anchor.unsqueeze(-1).expand(-1, -1, 4))
    return chosen, best, classes


def deployed_form(
    boxes: torch.Tensor,
    scores: torch.Tensor,
    classes: torch.Tensor,
    keep: torch.Tensor,
    *,
    max_detections: int,
    score_threshold: float,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """The kept candidates above the threshold, sorted, padded to ``max_detections`` rows.

    ``keep`` is a bool ``(N, k)`` mask of the candidates NMS kept.
    """
    kept = torch.where(keep & (scores >= score_threshold), scores, torch.zeros_like(scores))
    k = min(max_detections, kept.shape[1])
    final_scores, order = kept.topk(k, dim=1)
    final_boxes = boxes.gather(1, order.unsqueeze(-1).expand(-1, -1, 4))
    final_classes = classes.gather(1, order)
    present = final_scores > 0
    final_boxes = torch.where(present.unsqueeze(-1), final_boxes, torch.zeros_like(final_boxes))
    final_labels = torch.where(present, final_classes, torch.full_like(final_classes, -1))
    missing = max_detections - k
    if missing > 0:  # fewer candidates than rows: pad (a fixed amount, known when tracing)
        final_boxes = F.pad(final_boxes, (0, 0, 0, missing))
        final_scores = F.pad(final_scores, (0, missing))
        final_labels = F.pad(final_labels, (0, missing), value=-1)
    return final_boxes, final_scores, final_labels


def postprocess(
    boxes: torch.Tensor,
    scores: torch.Tensor,
    *,
    max_detections: int = 100,
    candidates: int = 200,
    nms_iou: float = 0.5,
    score_threshold: float = 0.05,
    span: float | None = None,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Per-anchor boxes and scores to the deployed form (see the module docstring).

    Args:
        boxes: ``(N, A, 4)`` xyxy boxes in input pixels.
        scores: ``(N, A, C)`` class scores in 0..1.
        max_detections: ``K``, the rows of the outputs.
        candidates: The (anchor, class) pairs NMS considers per image.
        nms_iou: IoU above which a lower-scored box of the same class is dropped.
        score_threshold: Scores below it are dropped.
        span: More than any coordinate (the image's larger side + 1), if known: it saves
            finding each image's largest coordinate (:func:`suppressed`).

    Returns:
        ``(boxes (N, K, 4), scores (N, K), labels (N, K) int64)``.
    """
    chosen, best, classes = top_candidates(boxes, scores, candidates)
    keep = ~suppressed(chosen, classes, nms_iou, span)
    return deployed_form(
        chosen,
        best,
        classes,
        keep,
        max_detections=max_detections,
        score_threshold=score_threshold,
    )


class Postprocess(nn.Module):
    """:func:`postprocess` with its settings, as a module (what the deployed detector runs)."""

    def __init__(
        self,
        *,
        max_detections: int = 100,
        candidates: int = 200,
        nms_iou: float = 0.5,
        score_threshold: float = 0.05,
    ) -> None:
        super().__init__()
        self.max_detections = max_detections
        self.candidates = candidates
        self.nms_iou = nms_iou
        self.score_threshold = score_threshold

    def forward(
        self, boxes: torch.Tensor, scores: torch.Tensor, span: float | None = None
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        return postprocess(
            boxes,
            scores,
            max_detections=self.max_detections,
            candidates=self.candidates,
            nms_iou=self.nms_iou,
            score_threshold=self.score_threshold,
            span=span,
        )


class DeployedDetector(nn.Module):
    """A detector followed by its decode and :class:`Postprocess`: the deployed form.

    What ``task.deployable(model)`` returns, what an exported file runs and what the metric
    scores: ``forward(x) -> (boxes, scores, labels)``.

    Args:
        model: A detector following the protocol of :mod:`compressor_detection.task`.
        postprocess: The suppression and padding settings.

    Raises:
        TypeError: ``model`` has no ``boxes_and_scores``.
    """

    def __init__(self, model: nn.Module, postprocess: Postprocess) -> None:
        super().__init__()
        if not callable(getattr(model, "boxes_and_scores", None)):
            raise TypeError(
                f"{type(model).__name__} is not a detector: the detection task needs a model "
                "with boxes_and_scores(raw) (see compressor_detection.task, the detector "
                "protocol)"
            )
        self.model = model
        self.postprocess = postprocess
        # Boxes are clipped to the image (the protocol): its larger side + 1 exceeds them all.
        size = getattr(model, "input_size", None)
        self.span = float(max(size)) + 1.0 if size else None

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        detector: Any = self.model  # any module following the detector protocol
        boxes, scores = detector.boxes_and_scores(detector(x))
        result: tuple[torch.Tensor, torch.Tensor, torch.Tensor] = self.postprocess(
            boxes.float(), scores.float(), self.span
        )
        return result
