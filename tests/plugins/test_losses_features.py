"""Feature losses (fitnet, at) against independent reference computations (value and gradient)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from compressor.training.features import adapt, build_adapter
from tests.plugins.loss_checks import assert_matches, build_loss, value_and_grad

_build = build_loss
_value_and_grad = value_and_grad


def _assert_matches(loss, reference, student, teacher) -> None:
    assert_matches(loss, reference, student, teacher, rtol=1e-8, atol=1e-12)


# --- fitnet (Romero et al. 2015) -----------------------------------------------------------------


@pytest.mark.parametrize("shape", [(4, 3, 5, 5), (6, 7)])
def test_fitnet_matches_reference_value_and_gradient(registry, shape) -> None:
    torch.manual_seed(0)
    student = torch.randn(*shape, dtype=torch.float64, requires_grad=True)
    teacher = torch.randn(*shape, dtype=torch.float64)
    loss = _build(registry, "fitnet")(student, teacher, None)
    s, t = student.detach().numpy(), teacher.numpy()
    assert loss.item() == pytest.approx(float(((s - t) ** 2).sum() / s.size), rel=1e-12)
    loss.backward()
    assert np.allclose(student.grad.numpy(), 2 * (s - t) / s.size, atol=1e-14)


def test_fitnet_is_zero_on_identical_features_and_asks_for_an_adapter(registry) -> None:
    fitnet = _build(registry, "fitnet")
    features = torch.randn(4, 8, 3, 3)
    assert fitnet(features, features.clone(), None).item() == 0.0
    with pytest.raises(ValueError, match="set an adapter"):
        fitnet(torch.randn(4, 8, 3, 3), torch.randn(4, 16, 3, 3), None)


@pytest.mark.parametrize(
    ("kind", "student_shape", "teacher_shape"),
    [
        ("conv1x1", (4, 8, 6, 6), (4, 16, 3, 3)),
        ("linear", (4, 20), (4, 12)),
        ("auto", (4, 8, 3, 3), (4, 16, 3, 3)),
    ],
)
def test_fitnet_trains_through_the_adapters_of_the_training_loop(
    registry, kind, student_shape, teacher_shape
) -> None:
    torch.manual_seed(1)
    student = torch.randn(*student_shape, requires_grad=True)
    teacher = torch.randn(*teacher_shape)
    adapter = build_adapter(kind, student.shape, teacher.shape)
    value = _build(registry, "fitnet")(adapt(adapter, student, teacher), teacher, None)
    value.backward()
    assert torch.isfinite(value) and student.grad.abs().sum() > 0
    assert all(p.grad is not None for p in adapter.parameters())


# --- at (Zagoruyko & Komodakis 2017) --------------------------------------------------------------


def _reference_at(student, teacher, p):
    # Sample by sample, position by position; pools the student's map by block means.
    n, _, h, w = teacher.shape
    fh, fw = student.shape[2] // h, student.shape[3] // w
    total = torch.zeros((), dtype=student.dtype)
    for i in range(n):
        a_s = torch.stack(
            [
                student[i, :, y * fh : (y + 1) * fh, x * fw : (x + 1) * fw]
                .abs()
                .pow(p)
                .mean(0)
                .mean()
                for y in range(h)
                for x in range(w)
            ]
        )
        a_t = torch.stack(
            [teacher[i, :, y, x].abs().pow(p).mean() for y in range(h) for x in range(w)]
        )
        a_s = a_s / torch.sqrt((a_s**2).sum())
        a_t = a_t / torch.sqrt((a_t**2).sum())
        total = total + ((a_s - a_t) ** 2).sum()
    return total / (n * h * w)


@pytest.mark.parametrize(
    ("p", "student_shape", "teacher_shape"),
    [
        (2.0, (3, 4, 4, 4), (3, 6, 4, 4)),
        (1.0, (2, 5, 3, 5), (2, 5, 3, 5)),
        (4.0, (2, 3, 8, 6), (2, 7, 4, 3)),
    ],
)
def test_at_matches_reference_value_and_gradient(registry, p, student_shape, teacher_shape) -> None:
    torch.manual_seed(2)
    student = torch.randn(*student_shape, dtype=torch.float64)
    teacher = torch.randn(*teacher_shape, dtype=torch.float64)
    _assert_matches(
        _build(registry, "at", p=p), lambda s, t, y: _reference_at(s, t, p), student, teacher
    )


def test_at_invariants(registry) -> None:
    torch.manual_seed(3)
    at = _build(registry, "at")
    features, other = torch.randn(4, 8, 5, 5), torch.randn(4, 3, 5, 5)
    assert at(features, features.clone(), None).item() < 1e-12
    # Normalized maps: a positive scale of either model changes nothing, channel counts may differ.
    base = at(other, features, None).item()
    assert base > 0
    assert at(7 * other, 0.1 * features, None).item() == pytest.approx(base, rel=1e-5)


def test_at_refuses_vectors(registry) -> None:
    with pytest.raises(ValueError, match=r"\(N, C, H, W\)"):
        _build(registry, "at")(torch.randn(4, 10), torch.randn(4, 10), None)
