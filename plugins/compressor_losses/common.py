"""Helpers shared by the loss modules."""

from __future__ import annotations

import torch


def frozen(teacher: torch.Tensor) -> torch.Tensor:
    """The teacher's output, cut from autograd and usable in the student's graph.

    The training loop may compute the teacher under ``torch.inference_mode()``; such a tensor
    cannot be saved for backward (``F.mse_loss(student, teacher)`` raises "Inference tensors
    cannot be saved for backward"), so it is copied to a normal tensor first.
    """
    teacher = teacher.detach()
    return teacher.clone() if teacher.is_inference() else teacher
