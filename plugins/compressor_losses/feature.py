"""Losses on intermediate features taken from module paths (``inputs="features"``).

Each is ``loss(student_features, teacher_features, targets) -> scalar``. When the recipe's loss
term sets an ``adapter``, the training loop has already mapped the student's features to the
teacher's shape. The teacher is always detached.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from compressor_losses.common import frozen


def _teacher(name: str, student: torch.Tensor, teacher: torch.Tensor | None) -> torch.Tensor:
    if teacher is None:
        raise ValueError(f"{name} needs the teacher's features")
    if len(student) != len(teacher):
        raise ValueError(
            f"{name}: the student's features have {len(student)} samples and the "
            f"teacher's {len(teacher)}"
        )
    return frozen(teacher)


class FitNetLoss(nn.Module):
    """Romero et al. 2015, "FitNets: Hints for Thin Deep Nets".

    Mean squared error between the student's (adapted) features and the teacher's: the paper's
    ``1/2 |u_h - r(v_g)|^2`` averaged over elements instead of summed, so the weight does not
    depend on the size of the feature maps. The regressor ``r`` is the loss term's ``adapter``.
    """

    @classmethod
    def from_options(cls, options: Any) -> FitNetLoss:
        """Build (the loss has no options)."""
        return cls()

    def forward(
        self,
        student: torch.Tensor,
        teacher: torch.Tensor | None,
        targets: torch.Tensor | None = None,
    ) -> torch.Tensor:
        teacher = _teacher("fitnet", student, teacher)
        if student.shape != teacher.shape:
            raise ValueError(
                f"fitnet compares features of the same shape, got student {tuple(student.shape)} "
                f"and teacher {tuple(teacher.shape)}: set an adapter on the loss term "
                "(adapter: conv1x1 for (N, C, H, W) maps, linear for (N, D), or auto)"
            )
        return F.mse_loss(student, teacher)


def attention_map(features: torch.Tensor, p: float = 2.0) -> torch.Tensor:
    """Spatial attention ``mean_c |f_c|^p`` of ``(N, C, H, W)`` features, shape ``(N, 1, H, W)``."""
    return features.abs().pow(p).mean(dim=1, keepdim=True)


class AttentionTransferLoss(nn.Module):
    """Zagoruyko & Komodakis 2017, "Paying More Attention to Attention" (activation-based AT).

    The attention map ``Q = mean_c |f_c|^p`` of each model is flattened and L2-normalized per
    sample; the loss is ``mean over samples and positions of (Q_s/|Q_s| - Q_t/|Q_t|)^2``. That
    is the squared form the authors trained with (their paper's Eq. 2 writes the 2-norm, and
    the text sets beta/2 = 500 "divided by the number of elements in the attention map and the
    batch size", which is this mean). Channel counts may differ; a student map of another
    spatial size is resized to the teacher's by adaptive average pooling first.

    Args:
        p: Exponent (>= 1; the paper uses 2).
    """

    def __init__(self, p: float = 2.0) -> None:
        super().__init__()
        if p < 1:
            raise ValueError(f"p must be >= 1, got {p}")
        self.p = float(p)

    @classmethod
    def from_options(cls, options: Any) -> AttentionTransferLoss:
        """Build from the validated ``ATOptions``."""
        return cls(p=options.p)

    def forward(
        self,
        student: torch.Tensor,
        teacher: torch.Tensor | None,
        targets: torch.Tensor | None = None,
    ) -> torch.Tensor:
        teacher = _teacher("at", student, teacher)
        if student.dim() != 4 or teacher.dim() != 4:
            raise ValueError(
                f"at compares spatial attention of (N, C, H, W) feature maps, got student "
                f"{tuple(student.shape)} and teacher {tuple(teacher.shape)}: take both from "
                "convolutional layers, or use fitnet, rkd, pkt or sp for (N, D) features"
            )
        a_s = attention_map(student, self.p)
        a_t = attention_map(teacher, self.p)
        if a_s.shape[-2:] != a_t.shape[-2:]:
            a_s = F.adaptive_avg_pool2d(a_s, (a_t.shape[-2], a_t.shape[-1]))
        a_s = F.normalize(a_s.flatten(1), dim=1)
        a_t = F.normalize(a_t.flatten(1), dim=1)
        return (a_s - a_t).pow(2).mean()
