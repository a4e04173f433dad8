"""A built loss term: one weighted part of what the training loop minimises."""

from __future__ import annotations

from collections.abc import Iterable
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


def bind_losses(losses: Iterable[WeightedLoss], model: nn.Module) -> None:
    """Tell every loss that must know the model it trains (a detector's anchor points, its
    class count) which model that is: its ``bind(model)``, when it has one."""
    for term in losses:
        bind = getattr(term.module, "bind", None)
        if callable(bind):
            bind(model)
