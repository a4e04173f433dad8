"""Helpers shared by the loss tests: build a registered loss, compare it with a reference."""

from __future__ import annotations

from typing import Any

import pytest
import torch


def build_loss(registry: Any, name: str, **options: Any) -> Any:
    """The registered loss ``name`` built with ``options``."""
    record = registry.get("loss", name)
    return record.build(record.options.model_validate(options))


def value_and_grad(
    fn: Any, student: torch.Tensor, teacher: torch.Tensor
) -> tuple[float, torch.Tensor]:
    """The loss value and its gradient with respect to a fresh copy of ``student``."""
    leaf = student.detach().clone().requires_grad_(True)
    value = fn(leaf, teacher, None)
    value.backward()
    return value.item(), leaf.grad


def assert_matches(
    loss: Any,
    reference: Any,
    student: torch.Tensor,
    teacher: torch.Tensor,
    rtol: float = 1e-8,
    atol: float = 1e-12,
) -> None:
    """``loss`` equals ``reference`` in value and in gradient."""
    value, grad = value_and_grad(loss, student, teacher)
    ref_value, ref_grad = value_and_grad(reference, student, teacher)
    assert value == pytest.approx(ref_value, rel=1e-9, abs=1e-12)
    assert torch.allclose(grad, ref_grad, rtol=rtol, atol=atol), (grad - ref_grad).abs().max()
