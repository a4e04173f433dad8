"""A built loss term: one weighted part of what the training loop minimises."""

from __future__ import annotations

from dataclasses import dataclass

from torch import nn

from compressor.training.features import LOGITS


@dataclass
class WeightedLoss:
    """One built loss term: ``weight * module(student[student_at], teacher[teacher_at], targets)``.

    Attributes:
        name: The loss plugin's name.
        weight: The term's weight.
        module: The built loss.
        needs_teacher: Whether the term reads the teacher.
        student_at: ``logits`` or a module path in the student.
        teacher_at: ``logits`` or a module path in the teacher.
        adapter: ``none``, ``linear``, ``conv1x1`` or ``auto``.
        teacher_index: Which teacher the term learns from; ``None`` averages all of them.
    """

    name: str
    weight: float
    module: nn.Module
    needs_teacher: bool
    student_at: str = LOGITS
    teacher_at: str = LOGITS
    adapter: str = "none"
    teacher_index: int | None = None
