"""The loss contract check: :func:`check_loss`.

A loss is called as ``loss(student_logits, teacher_logits, targets)`` and returns a scalar;
:func:`check_loss` calls it on random logits of several kinds through a :class:`_LossProbe`,
which checks every call's result and that the inputs were left alone.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import torch
from pydantic import BaseModel
from torch import nn

from compressor.records import LossPlugin
from compressor.testing.building import build_plugin, plugin_label

Batch = tuple[torch.Tensor, torch.Tensor | None, torch.Tensor]


def check_loss(
    loss: Any,
    options: Mapping[str, Any] | BaseModel | None = None,
    *,
    zero_when_equal: bool = False,
    needs_teacher: bool | None = None,
    num_classes: int = 5,
    shape: tuple[int, ...] | None = None,
    batch_size: int = 8,
    seed: int = 0,
) -> float:
    """Check the loss contract: ``loss(student_logits, teacher_logits, targets) -> scalar``.

    The loss must be an ``nn.Module``, return a finite floating-point scalar that carries a
    gradient to the student's logits, cope with a batch of one and with large logits, leave its
    inputs unchanged, and, when it does not need a teacher, accept ``teacher_logits=None``.

    Args:
        loss: A name, a :class:`~compressor.records.LossPlugin`, a factory or a built module.
        options: The loss options (validated by the record's schema).
        zero_when_equal: Also check that the loss is (about) zero when the student's logits
            equal the teacher's; true for distances such as ``kd`` or ``mse_logits``, not for
            ``ce``.
        needs_teacher: Overrides the record's flag (a bare module or factory defaults to true).
        num_classes: Logits per sample.
        shape: Shape of one sample's student and teacher input, when not ``(num_classes,)``
            logits; a feature loss (record ``inputs="features"``) gets ``(8, 4, 4)`` maps by
            default.
        batch_size: Samples per batch.
        seed: Seeds the random logits.

    Returns:
        The loss value on random logits.

    Raises:
        AssertionError: A part of the contract does not hold; the message says which.
    """
    module, record = build_plugin("loss", loss, options, LossPlugin, "forward")
    label = plugin_label("loss", module, record)
    if needs_teacher is None:
        needs_teacher = record.needs_teacher if isinstance(record, LossPlugin) else True
    if shape is None:
        features = getattr(record, "inputs", "logits") == "features"
        shape = (8, 4, 4) if features else (num_classes,)
    assert isinstance(module, nn.Module), (
        f"{label}: the factory must return a torch.nn.Module, got {type(module).__name__}"
    )
    probe = _LossProbe(
        module, label, shape, num_classes, needs_teacher, torch.Generator().manual_seed(seed)
    )
    # The order of the calls fixes which random logits each one gets: keep it.
    value = _check_gradient(probe, batch_size)
    probe.call(*probe.logits(1), "a batch of one")
    probe.call(*probe.logits(batch_size, scale=100.0), "large logits (|x| ~ 100)")
    if zero_when_equal:
        _check_zero_when_equal(probe, batch_size)
    return float(value.detach())


@dataclass
class _LossProbe:
    """Calls the loss on random logits and checks what every call returns."""

    module: nn.Module
    label: str
    shape: tuple[int, ...]
    num_classes: int
    needs_teacher: bool
    generator: torch.Generator

    def logits(self, n: int, scale: float = 3.0) -> Batch:
        """``n`` random student logits (with a gradient), teacher logits if needed, targets."""
        student = (scale * torch.randn(n, *self.shape, generator=self.generator)).requires_grad_()
        teacher = (
            scale * torch.randn(n, *self.shape, generator=self.generator)
            if self.needs_teacher
            else None
        )
        targets = torch.randint(0, self.num_classes, (n,), generator=self.generator)
        return student, teacher, targets

    def call(
        self,
        student: torch.Tensor,
        teacher: torch.Tensor | None,
        targets: torch.Tensor,
        what: str,
    ) -> torch.Tensor:
        """The loss on these inputs, checked: a finite float scalar, the inputs unchanged."""
        label = self.label
        saved = [t.detach().clone() for t in (student, teacher, targets) if t is not None]
        try:
            value = self.module(student, teacher, targets)
        except Exception as exc:
            raise AssertionError(f"{label} raised on {what}: {type(exc).__name__}: {exc}") from exc
        after = [t.detach() for t in (student, teacher, targets) if t is not None]
        assert all(torch.equal(a, b) for a, b in zip(saved, after, strict=True)), (
            f"{label} modified its inputs in place on {what}; compute on copies"
        )
        assert isinstance(value, torch.Tensor), (
            f"{label} must return a tensor, got {type(value).__name__} on {what}"
        )
        assert value.dim() == 0, (
            f"{label} must return a scalar (0-dim tensor), got shape {list(value.shape)} on "
            f"{what}; reduce over the batch (mean)"
        )
        assert value.is_floating_point(), (
            f"{label} returned dtype {value.dtype}, not floating point"
        )
        assert torch.isfinite(value), (
            f"{label} returned {value.item()} on {what}; it must be finite"
        )
        return value


def _check_gradient(probe: _LossProbe, batch_size: int) -> torch.Tensor:
    """The loss on random logits, checked to give the student's logits a useful gradient."""
    label = probe.label
    student, teacher, targets = probe.logits(batch_size)
    value = probe.call(student, teacher, targets, f"random logits (batch {batch_size})")
    assert value.requires_grad, (
        f"{label} is not differentiable: its value has no gradient to the student's logits "
        "(was something detached, or computed with .item() / numpy?)"
    )
    value.backward()
    grad = student.grad
    assert grad is not None, f"{label}: backward() gave the student's logits no gradient"
    assert torch.isfinite(grad).all(), (
        f"{label}: the gradient to the student's logits is not finite"
    )
    assert grad.abs().sum() > 0, (
        f"{label}: the gradient to the student's logits is zero everywhere on random logits; "
        "the loss cannot train anything"
    )
    return value


def _check_zero_when_equal(probe: _LossProbe, batch_size: int) -> None:
    """The loss must be about zero when the student's logits equal the teacher's."""
    student, _, targets = probe.logits(batch_size)
    equal = probe.call(
        student, student.detach().clone(), targets, "student logits equal to the teacher's"
    )
    assert abs(equal.item()) <= 1e-4, (
        f"{probe.label} is {equal.item():.3g} when the student's logits equal the teacher's; "
        "expected about 0 (pass zero_when_equal=False for a loss where that does not hold)"
    )
