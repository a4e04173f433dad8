"""Losses on logits. Each is ``loss(student_logits, teacher_logits, targets) -> scalar``."""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import nn


class KDLoss(nn.Module):
    """Hinton, Vinyals & Dean 2015, "Distilling the Knowledge in a Neural Network".

    ``T^2 * KL(softmax(t / T) || softmax(s / T))``, averaged over the batch. The ``T^2``
    factor keeps the gradient scale independent of the temperature, so the term can be mixed
    with a cross-entropy term without retuning its weight.

    Args:
        temperature: The softmax temperature ``T`` (> 0).
    """

    def __init__(self, temperature: float = 4.0) -> None:
        super().__init__()
        if temperature <= 0:
            raise ValueError(f"temperature must be > 0, got {temperature}")
        self.temperature = float(temperature)

    @classmethod
    def from_options(cls, options: Any) -> KDLoss:
        """Build from the validated ``KDOptions``."""
        return cls(temperature=options.temperature)

    def forward(
        self, student: torch.Tensor, teacher: torch.Tensor | None, targets: torch.Tensor | None = None
    ) -> torch.Tensor:
        if teacher is None:
            raise ValueError("kd needs teacher logits")
        t = self.temperature
        log_p_student = F.log_softmax(student / t, dim=-1)
        log_p_teacher = F.log_softmax(teacher.detach() / t, dim=-1)
        return F.kl_div(log_p_student, log_p_teacher, reduction="batchmean", log_target=True) * (t * t)


class CrossEntropyLoss(nn.Module):
    """Cross-entropy between the student's logits and the labels; ignores the teacher."""

    def __init__(self, label_smoothing: float = 0.0) -> None:
        super().__init__()
        self.label_smoothing = float(label_smoothing)

    @classmethod
    def from_options(cls, options: Any) -> CrossEntropyLoss:
        """Build from the validated ``CEOptions``."""
        return cls(label_smoothing=options.label_smoothing)

    def forward(
        self, student: torch.Tensor, teacher: torch.Tensor | None, targets: torch.Tensor | None = None
    ) -> torch.Tensor:
        if targets is None:
            raise ValueError("ce needs the labels")
        return F.cross_entropy(student, targets, label_smoothing=self.label_smoothing)


class MSELogitsLoss(nn.Module):
    """Ba & Caruana 2014, "Do Deep Nets Really Need to be Deep?": regress the teacher's logits."""

    @classmethod
    def from_options(cls, options: Any) -> MSELogitsLoss:
        """Build (the loss has no options)."""
        return cls()

    def forward(
        self, student: torch.Tensor, teacher: torch.Tensor | None, targets: torch.Tensor | None = None
    ) -> torch.Tensor:
        if teacher is None:
            raise ValueError("mse_logits needs teacher logits")
        return F.mse_loss(student, teacher.detach())
