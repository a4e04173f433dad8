"""Built-in losses against independent reference computations (value and gradient)."""

from __future__ import annotations

import math

import pytest
import torch

from compressor.schemas import LossTerm


def _build(registry, name: str, **options):
    record = registry.get("loss", name)
    return record.build(record.options.model_validate(options))


def _reference_kd(student: torch.Tensor, teacher: torch.Tensor, t: float) -> torch.Tensor:
    # Written out by hand: sum_j p_j (log p_j - log q_j), averaged over rows, times T^2.
    total = torch.zeros(())
    for s_row, t_row in zip(student, teacher, strict=True):
        p = torch.exp(t_row / t) / torch.exp(t_row / t).sum()
        q = torch.exp(s_row / t) / torch.exp(s_row / t).sum()
        total = total + (p * (p.log() - q.log())).sum()
    return total / len(student) * t * t


@pytest.mark.parametrize("temperature", [1.0, 2.0, 4.0, 20.0])
def test_kd_matches_reference_value_and_gradient(registry, temperature: float) -> None:
    torch.manual_seed(0)
    student = torch.randn(5, 7, dtype=torch.float64, requires_grad=True)
    teacher = torch.randn(5, 7, dtype=torch.float64) * 3
    loss = _build(registry, "kd", temperature=temperature)(student, teacher, None)
    reference_student = student.detach().clone().requires_grad_(True)
    reference = _reference_kd(reference_student, teacher, temperature)
    assert loss.item() == pytest.approx(reference.item(), rel=1e-9)
    loss.backward()
    reference.backward()
    assert torch.allclose(student.grad, reference_student.grad, atol=1e-10)
    # The known closed form of the gradient: T * (q - p) / batch.
    p = torch.softmax(teacher / temperature, 1)
    q = torch.softmax(student.detach() / temperature, 1)
    assert torch.allclose(student.grad, temperature * (q - p) / 5, atol=1e-10)


def test_kd_is_zero_when_student_equals_teacher(registry) -> None:
    logits = torch.randn(8, 10)
    assert _build(registry, "kd", temperature=3.0)(logits, logits.clone(), None).abs().item() < 1e-6


def test_kd_does_not_backpropagate_into_the_teacher(registry) -> None:
    student = torch.randn(4, 3, requires_grad=True)
    teacher = torch.randn(4, 3, requires_grad=True)
    _build(registry, "kd")(student, teacher, None).backward()
    assert teacher.grad is None and student.grad is not None


def test_ce_matches_reference(registry) -> None:
    torch.manual_seed(1)
    logits = torch.randn(6, 4, dtype=torch.float64)
    targets = torch.tensor([0, 1, 2, 3, 0, 1])
    expected = -sum(
        math.log(math.exp(row[y]) / sum(math.exp(v) for v in row))
        for row, y in zip(logits.tolist(), targets.tolist(), strict=True)
    ) / 6
    assert _build(registry, "ce")(logits, None, targets).item() == pytest.approx(expected, rel=1e-9)
    smoothed = _build(registry, "ce", label_smoothing=0.2)(logits, None, targets).item()
    assert smoothed != pytest.approx(expected)


def test_mse_logits_matches_reference_and_is_zero_on_agreement(registry) -> None:
    student = torch.tensor([[1.0, 2.0], [3.0, 5.0]], requires_grad=True)
    teacher = torch.tensor([[0.0, 2.0], [3.0, 1.0]])
    loss = _build(registry, "mse_logits")(student, teacher, None)
    assert loss.item() == pytest.approx((1 + 0 + 0 + 16) / 4)
    loss.backward()
    assert torch.allclose(student.grad, 2 * (student.detach() - teacher) / 4)
    assert _build(registry, "mse_logits")(teacher, teacher, None).item() == 0.0


def test_loss_records_say_whether_they_need_a_teacher(registry) -> None:
    assert registry.get("loss", "kd").needs_teacher
    assert registry.get("loss", "mse_logits").needs_teacher
    assert not registry.get("loss", "ce").needs_teacher
    assert LossTerm(name="kd").weight == 1.0
