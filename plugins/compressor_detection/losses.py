"""Detection losses: the detector's own (``detection``), dense-head distillation (``dense_kd``)
and Pearson-correlation feature distillation (``pkd``).

Every loss is called as ``loss(student, teacher, targets)``; ``targets`` is the batch's padded
``(N, M, 6)`` normalized boxes (:mod:`compressor_detection.task`). The losses that must know
the model they train define ``bind(model)``: the training loop calls it with the student
before the first step. The model is kept outside the module's children, so that binding adds
no parameter to the loss and the loss's ``state_dict`` stays empty.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from compressor_detection.layout import RawLayout


def _bound(loss: nn.Module, name: str) -> Any:
    model = loss.__dict__.get("_model")
    if model is None:
        raise RuntimeError(f"{name} must be bound to the model it trains first: call bind(model)")
    return model


class DetectionLoss(nn.Module):
    """``detection``: the bound detector's own ``loss(raw, targets)`` (the protocol's).

    The detection task's default supervised loss: for ``dense_detector`` FCOS's focal, GIoU
    and centerness terms; for a torchvision detector, its own losses.
    """

    @classmethod
    def from_options(cls, options: Any = None) -> DetectionLoss:
        """Build (no options)."""
        return cls()

    def bind(self, model: nn.Module) -> None:
        """Train ``model``: its ``loss`` computes the value.

        Raises:
            TypeError: ``model`` has no ``loss(raw, targets)``.
        """
        if not callable(getattr(model, "loss", None)):
            raise TypeError(
                f"{type(model).__name__} has no loss(raw, targets): the detection loss needs a "
                "detector following the protocol of compressor_detection.task"
            )
        self.__dict__["_model"] = model

    def forward(
        self,
        student: torch.Tensor,
        teacher: torch.Tensor | None = None,
        targets: torch.Tensor | None = None,
    ) -> torch.Tensor:
        if targets is None:
            raise ValueError(
                "the detection loss needs targets; unlabelled batches can only be distilled"
            )
        value: torch.Tensor = _bound(self, "the detection loss").loss(student, targets)
        return value


def binary_kl(student: torch.Tensor, teacher: torch.Tensor) -> torch.Tensor:
    """Elementwise KL(Bernoulli(sigmoid(teacher)) || Bernoulli(sigmoid(student))) of logits."""
    target = torch.sigmoid(teacher)
    # BCE(student; p) - BCE(teacher; p) = KL(p || q): zero when the logits agree.
    cross = F.binary_cross_entropy_with_logits(student, target, reduction="none")
    entropy = F.binary_cross_entropy_with_logits(teacher, target, reduction="none")
    return cross - entropy


class DenseKDLoss(nn.Module):
    """``dense_kd``: distillation between two dense detectors with the same raw layout.

    The raw outputs are ``(N, A, D)``: per anchor, class logits, box regression, quality
    logits (:class:`~compressor_detection.layout.RawLayout`, the bound student's
    ``raw_layout``). Two terms:

    - **classes** (Hinton et al. 2015, per anchor): sigmoid classes as independent binary
      distributions softened by ``T`` — ``sum_c KL(sigmoid(t_c / T) || sigmoid(s_c / T))`` —
      softmax classes (SSD) as one distribution, ``KL(softmax(t / T) || softmax(s / T))``;
      the quality logits (FCOS centerness) as binary distributions at the same ``T``. Averaged
      over anchors and scaled by ``T^2`` so that its gradients keep their size across
      temperatures.
    - **boxes**: smooth L1 between the raw box channels, summed over the four, averaged over
      anchors weighted by the teacher's confidence (its best class probability, times its
      quality probability when there is one), so that the background's meaningless boxes do not
      count; times ``box_weight``.

    Args:
        temperature: ``T``.
        box_weight: Weight of the box term.
    """

    def __init__(self, temperature: float = 2.0, box_weight: float = 1.0) -> None:
        super().__init__()
        self.temperature = temperature
        self.box_weight = box_weight
        self.layout: RawLayout | None = None

    @classmethod
    def from_options(cls, options: Any) -> DenseKDLoss:
        """Build from :class:`~compressor_detection.options.DenseKDOptions`."""
        return cls(temperature=options.temperature, box_weight=options.box_weight)

    def bind(self, model: nn.Module) -> None:
        """Read the student's raw layout.

        Raises:
            TypeError: ``model`` has no ``raw_layout`` (it is not a dense detector).
        """
        layout = getattr(model, "raw_layout", None)
        if not isinstance(layout, RawLayout):
            raise TypeError(
                f"dense_kd distils dense detectors' raw outputs; {type(model).__name__} has no "
                "raw_layout (dense_detector, RetinaNet, FCOS and SSD wrappers have one)"
            )
        self.layout = layout

    def forward(
        self, student: torch.Tensor, teacher: torch.Tensor | None, targets: Any = None
    ) -> torch.Tensor:
        layout = self.layout
        if layout is None:
            raise RuntimeError("dense_kd must be bound to the student first: call bind(model)")
        if teacher is None:
            raise ValueError("dense_kd needs the teacher's raw output")
        if student.shape != teacher.shape or student.shape[-1] != layout.channels:
            raise ValueError(
                f"dense_kd needs two dense detectors of the same layout: student raw output "
                f"{tuple(student.shape)}, teacher {tuple(teacher.shape)}, student layout "
                f"{layout.channels} channels per anchor ({layout.classes} classes, "
                f"{layout.boxes} box, {layout.quality} quality); give both the same levels, "
                "input size and classes"
            )
        student, teacher = student.float(), teacher.detach().float()
        return self._class_term(student, teacher, layout) + self.box_weight * self._box_term(
            student, teacher, layout
        )

    def _class_term(
        self, student: torch.Tensor, teacher: torch.Tensor, layout: RawLayout
    ) -> torch.Tensor:
        t = self.temperature
        s_cls, t_cls = student[..., : layout.classes] / t, teacher[..., : layout.classes] / t
        if layout.activation == "softmax":
            per_anchor = (
                F.softmax(t_cls, -1) * (F.log_softmax(t_cls, -1) - F.log_softmax(s_cls, -1))
            ).sum(-1)
        else:
            per_anchor = binary_kl(s_cls, t_cls).sum(-1)
        quality = layout.quality_slice
        if layout.quality:
            per_anchor = per_anchor + binary_kl(
                student[..., quality] / t, teacher[..., quality] / t
            ).sum(-1)
        return per_anchor.mean() * t * t

    def _box_term(
        self, student: torch.Tensor, teacher: torch.Tensor, layout: RawLayout
    ) -> torch.Tensor:
        classes = teacher[..., : layout.classes]
        if layout.activation == "softmax":  # the background is class 0
            confidence = F.softmax(classes, -1)[..., 1:].amax(-1)
        else:
            confidence = torch.sigmoid(classes).amax(-1)
        if layout.quality:
            confidence = confidence * torch.sigmoid(teacher[..., layout.quality_slice]).prod(-1)
        boxes = layout.box_slice
        distance = F.smooth_l1_loss(student[..., boxes], teacher[..., boxes], reduction="none")
        return (distance.sum(-1) * confidence).sum() / confidence.sum().clamp(min=1e-6)


def standardize(features: torch.Tensor, eps: float = 1e-6) -> torch.Tensor:
    """Each channel of each sample to zero mean and unit variance over its positions."""
    flat = features.flatten(2)
    mean = flat.mean(-1, keepdim=True)
    std = flat.std(-1, keepdim=True)
    return ((flat - mean) / (std + eps)).view_as(features)


def box_mask(targets: torch.Tensor, height: int, width: int) -> torch.Tensor:
    """``(N, 1, height, width)``: 1 on the cells a target box (normalized xyxy) overlaps."""
    valid = targets[..., 0] >= 0  # (N, M)
    rows = torch.arange(height, device=targets.device, dtype=targets.dtype)
    cols = torch.arange(width, device=targets.device, dtype=targets.dtype)
    x1, y1, x2, y2 = (targets[..., i, None] for i in range(1, 5))  # (N, M, 1)
    in_x = (cols / width < x2) & ((cols + 1) / width > x1)  # (N, M, W)
    in_y = (rows / height < y2) & ((rows + 1) / height > y1)  # (N, M, H)
    inside = in_y[..., :, None] & in_x[..., None, :] & valid[..., None, None]
    return inside.any(dim=1, keepdim=True).to(targets.dtype)


class PKDLoss(nn.Module):
    """``pkd``: Cao et al. 2022, "PKD: General Distillation Framework for Object Detectors via
    Pearson Correlation Coefficient".

    Each channel of each sample's feature map, student's and teacher's, is standardized to zero
    mean and unit variance over its positions; the loss is the mean squared error between the
    two, which is ``2 (1 - r)`` per channel for Pearson's ``r``: the student matches the
    teacher's pattern, not its scale, so detectors of different kinds distil into each other.
    The authors' code standardizes over the whole batch (N, H, W) and halves the error; here
    it is per sample, so a sample's loss does not depend on its batch (or its rank under
    torchrun), and not halved (the term's weight is yours).

    With ``foreground``, only the positions a target box covers count (the boxes projected
    onto the map), averaged over them; a batch without boxes gives 0.

    Args:
        foreground: Weight by the target boxes' mask.
    """

    def __init__(self, foreground: bool = False) -> None:
        super().__init__()
        self.foreground = foreground

    @classmethod
    def from_options(cls, options: Any) -> PKDLoss:
        """Build from :class:`~compressor_detection.options.PKDOptions`."""
        return cls(foreground=options.foreground)

    def forward(
        self,
        student: torch.Tensor,
        teacher: torch.Tensor | None,
        targets: torch.Tensor | None = None,
    ) -> torch.Tensor:
        if teacher is None:
            raise ValueError("pkd needs the teacher's features")
        if student.dim() != 4 or student.shape != teacher.shape:
            raise ValueError(
                f"pkd compares (N, C, H, W) maps of the same shape, got student "
                f"{tuple(student.shape)} and teacher {tuple(teacher.shape)}: set an adapter on "
                "the loss term (adapter: conv1x1) when the channels differ"
            )
        squared = (standardize(student.float()) - standardize(teacher.detach().float())) ** 2
        if not self.foreground:
            return squared.mean()
        if targets is None or targets.dim() != 3:
            raise ValueError("pkd with foreground: true needs the batch's (N, M, 6) box targets")
        mask = box_mask(targets.to(squared.device, torch.float32), *squared.shape[-2:])
        covered = mask.sum() * squared.shape[1]
        return (squared * mask).sum() / covered.clamp(min=1.0)
