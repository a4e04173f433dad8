"""The ``cosine`` loss: match the direction of the teacher's logits, not their scale."""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import nn


class CosineLoss(nn.Module):
    """``1 - cos(student, teacher)`` per sample, averaged over the batch.

    Unlike ``mse_logits`` it ignores the teacher's logit scale (its confidence), and unlike
    ``kd`` it needs no temperature. With ``center`` each sample's mean logit is subtracted
    first: adding a constant to every logit leaves the softmax unchanged, so it should leave the
    loss unchanged too. The loss is 0 when the student's logits are a positive multiple of the
    teacher's, and at most 2.

    Args:
        center: Subtract each sample's mean logit before comparing.
    """

    def __init__(self, center: bool = True) -> None:
        super().__init__()
        self.center = center

    @classmethod
    def from_options(cls, options: Any) -> CosineLoss:
        """Build from the validated ``CosineOptions``."""
        return cls(center=options.center)

    def forward(
        self,
        student: torch.Tensor,
        teacher: torch.Tensor | None,
        targets: torch.Tensor | None = None,
    ) -> torch.Tensor:
        if teacher is None:
            raise ValueError("cosine needs teacher logits")
        teacher = teacher.detach()
        if self.center:
            student = student - student.mean(dim=-1, keepdim=True)
            teacher = teacher - teacher.mean(dim=-1, keepdim=True)
        return (1.0 - F.cosine_similarity(student, teacher, dim=-1, eps=1e-8)).mean()
