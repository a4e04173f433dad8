"""Relation losses (rkd, pkt, sp) against independent reference computations (value and gradient)."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import torch
from compressor_losses.relation import PKTLoss

from tests.plugins.loss_checks import assert_matches, build_loss, value_and_grad

_build = build_loss
_value_and_grad = value_and_grad


def _assert_matches(loss, reference, student, teacher) -> None:
    assert_matches(loss, reference, student, teacher, rtol=1e-7, atol=1e-11)


def _huber(x: torch.Tensor) -> torch.Tensor:
    return torch.where(x.abs() < 1, 0.5 * x**2, x.abs() - 0.5)


# --- rkd (Park et al. 2019) ----------------------------------------------------------------------


def _reference_rkd(student, teacher, distance_weight, angle_weight):
    s, t = student.flatten(1), teacher.flatten(1)
    n = len(s)
    pairs = [(i, j) for i in range(n) for j in range(n) if i != j]
    d_s = torch.stack([torch.linalg.norm(s[i] - s[j]) for i, j in pairs])
    d_t = torch.stack([torch.linalg.norm(t[i] - t[j]) for i, j in pairs])
    distance = _huber(d_s / d_s.mean() - d_t / d_t.mean()).mean()

    def cos(x, i, j, k):
        u, v = x[i] - x[j], x[k] - x[j]
        return (u * v).sum() / (torch.linalg.norm(u) * torch.linalg.norm(v))

    triplets = list(itertools.permutations(range(n), 3))
    angle = torch.stack([_huber(cos(s, *ijk) - cos(t, *ijk)) for ijk in triplets]).mean()
    return distance_weight * distance + angle_weight * angle


@pytest.mark.parametrize(
    ("weights", "student_shape", "teacher_shape"),
    [
        ((1.0, 2.0), (6, 5), (6, 9)),
        ((1.0, 0.0), (5, 2, 3, 3), (5, 4)),
        ((0.0, 1.0), (5, 7), (5, 7)),
    ],
)
def test_rkd_matches_reference_value_and_gradient(
    registry, weights, student_shape, teacher_shape
) -> None:
    torch.manual_seed(0)
    student = torch.randn(*student_shape, dtype=torch.float64)
    teacher = torch.randn(*teacher_shape, dtype=torch.float64) * 3
    loss = _build(registry, "rkd", distance_weight=weights[0], angle_weight=weights[1])
    _assert_matches(loss, lambda s, t, y: _reference_rkd(s, t, *weights), student, teacher)


def test_rkd_is_blind_to_translation_rotation_and_scale(registry) -> None:
    torch.manual_seed(1)
    rkd = _build(registry, "rkd")
    student, teacher = (
        torch.randn(8, 6, dtype=torch.float64),
        torch.randn(8, 4, dtype=torch.float64),
    )
    rotation, _ = torch.linalg.qr(torch.randn(6, 6, dtype=torch.float64))
    base = rkd(student, teacher, None).item()
    assert base > 0
    assert rkd(3 * student @ rotation + 11, teacher, None).item() == pytest.approx(base, rel=1e-9)
    assert rkd(teacher, teacher.clone(), None).item() < 1e-12


def test_rkd_keeps_its_precision_on_features_with_a_large_offset(registry) -> None:
    # Centering before the Gram matrix: float32 features at 1,000 +- 1 still give the exact loss.
    torch.manual_seed(2)
    student, teacher = torch.randn(16, 32), torch.randn(16, 8)
    rkd = _build(registry, "rkd")
    exact = rkd(student.double(), teacher.double(), None).item()
    assert rkd(student + 1000, teacher - 1000, None).item() == pytest.approx(exact, rel=1e-3)


def test_rkd_on_tiny_batches(registry) -> None:
    rkd = _build(registry, "rkd")
    assert rkd(torch.randn(1, 3), torch.randn(1, 3), None).item() == 0.0
    dist, angle = rkd.parts(torch.randn(2, 3), torch.randn(2, 5))
    assert torch.isfinite(dist) and angle.item() == 0.0  # one pair, no triplet


def test_rkd_stays_finite_when_two_samples_coincide(registry) -> None:
    # Degenerate triplets are weighted out rather than selected out, so their cosines must stay
    # finite even where a distance is zero: one NaN would poison the whole masked sum.
    torch.manual_seed(3)
    student = torch.randn(6, 5, dtype=torch.float64)
    student[1] = student[0]
    student.requires_grad_(True)
    teacher = torch.randn(6, 4, dtype=torch.float64)
    loss = _build(registry, "rkd")(student, teacher, None)
    loss.backward()
    assert torch.isfinite(loss) and loss.item() > 0
    assert torch.isfinite(student.grad).all()


# --- pkt (Passalis & Tefas 2018) -----------------------------------------------------------------


def _reference_pkt(student, teacher, eps=1e-7):
    def conditional(x):
        n = len(x)
        rows = []
        for i in range(n):
            kernel = torch.stack(
                [
                    (
                        1
                        + (x[i] * x[j]).sum()
                        / ((torch.linalg.norm(x[i]) + eps) * (torch.linalg.norm(x[j]) + eps))
                    )
                    / 2
                    for j in range(n)
                    if j != i
                ]
            )
            rows.append(kernel / (kernel.sum() + eps))
        return rows

    p_s, p_t = conditional(student.flatten(1)), conditional(teacher.flatten(1))
    kls = [(pt * torch.log((pt + eps) / (ps + eps))).sum() for ps, pt in zip(p_s, p_t, strict=True)]
    return torch.stack(kls).mean()


@pytest.mark.parametrize(
    ("student_shape", "teacher_shape"), [((6, 5), (6, 9)), ((4, 2, 3, 3), (4, 10))]
)
def test_pkt_matches_reference_value_and_gradient(registry, student_shape, teacher_shape) -> None:
    torch.manual_seed(3)
    student = torch.randn(*student_shape, dtype=torch.float64)
    teacher = torch.randn(*teacher_shape, dtype=torch.float64)
    _assert_matches(_build(registry, "pkt"), lambda s, t, y: _reference_pkt(s, t), student, teacher)


def test_pkt_rows_are_distributions_over_the_other_samples(registry) -> None:
    p = PKTLoss.conditional(torch.randn(5, 4, dtype=torch.float64))
    assert (
        torch.allclose(p.sum(1), torch.ones(5, dtype=torch.float64)) and (p.diagonal() == 0).all()
    )
    assert (p >= 0).all()


# --- sp (Tung & Mori 2019) -----------------------------------------------------------------------


def _reference_sp_numpy(student: np.ndarray, teacher: np.ndarray) -> float:
    def g(x):
        x = x.reshape(len(x), -1)
        gram = x @ x.T
        return gram / np.linalg.norm(gram, axis=1, keepdims=True)

    return float(np.linalg.norm(g(student) - g(teacher), "fro") ** 2 / len(student) ** 2)


def _reference_sp(student, teacher):
    def g(x):
        x = x.flatten(1)
        rows = [torch.stack([(x[i] * x[j]).sum() for j in range(len(x))]) for i in range(len(x))]
        return torch.stack([r / torch.sqrt((r**2).sum()) for r in rows])

    return ((g(student) - g(teacher)) ** 2).sum() / len(student) ** 2


@pytest.mark.parametrize(
    ("student_shape", "teacher_shape"), [((6, 5), (6, 9)), ((4, 2, 3, 3), (4, 3, 2, 2))]
)
def test_sp_matches_reference_value_and_gradient(registry, student_shape, teacher_shape) -> None:
    torch.manual_seed(4)
    student = torch.randn(*student_shape, dtype=torch.float64)
    teacher = torch.randn(*teacher_shape, dtype=torch.float64)
    sp = _build(registry, "sp")
    assert sp(student, teacher, None).item() == pytest.approx(
        _reference_sp_numpy(student.numpy(), teacher.numpy()), rel=1e-10
    )
    _assert_matches(sp, lambda s, t, y: _reference_sp(s, t), student, teacher)


@pytest.mark.parametrize("name", ["rkd", "pkt", "sp"])
def test_relation_losses_need_the_same_batch(registry, name: str) -> None:
    with pytest.raises(ValueError, match="same number of samples"):
        _build(registry, name)(torch.randn(4, 3), torch.randn(5, 3), None)
