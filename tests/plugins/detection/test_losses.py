"""Detection losses, each against a direct numpy computation, and each one trains."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from compressor_detection.layout import RawLayout
from compressor_detection.losses import DenseKDLoss, DetectionLoss, PKDLoss, box_mask
from compressor_detection.task import DetectionTask

from tests.plugins.detection.detectors import ANCHORS, CLASSES, SHAPE, tiny_detector


def sigmoid(x: np.ndarray) -> np.ndarray:
    return 1 / (1 + np.exp(-x))


def bernoulli_kl(p: np.ndarray, q: np.ndarray) -> np.ndarray:
    return p * np.log(p / q) + (1 - p) * np.log((1 - p) / (1 - q))


def trains(loss_of: object, student: torch.Tensor, steps: int = 60, lr: float = 0.5) -> list[float]:
    """Gradient descent on ``student`` alone; the loss at every step."""
    student = student.clone().requires_grad_()
    optimizer = torch.optim.SGD([student], lr=lr)
    values = []
    for _ in range(steps):
        value = loss_of(student)  # type: ignore[operator]
        optimizer.zero_grad()
        value.backward()
        optimizer.step()
        values.append(value.item())
    return values


# -- detection -------------------------------------------------------------------------------


def test_detection_is_the_bound_models_own_loss() -> None:
    model = tiny_detector()
    raw = model(torch.randn(2, *SHAPE))
    targets = DetectionTask().collate([np.array([[1, 0.1, 0.1, 0.6, 0.5, 0]], np.float32)] * 2)
    loss = DetectionLoss()
    with pytest.raises(RuntimeError, match="bind"):
        loss(raw, None, targets)
    loss.bind(model)
    assert torch.equal(loss(raw, None, targets), model.loss(raw, targets))
    assert list(loss.parameters()) == [] and loss.state_dict() == {}
    with pytest.raises(ValueError, match="needs targets"):
        loss(raw, None, None)
    with pytest.raises(TypeError, match="no loss"):
        DetectionLoss().bind(torch.nn.Linear(2, 2))


# -- dense_kd --------------------------------------------------------------------------------

LAYOUT = RawLayout(classes=3, boxes=4, quality=1)


def dense_kd_reference(
    s: np.ndarray, t: np.ndarray, temperature: float, box_weight: float
) -> float:
    c = LAYOUT.classes
    kl = bernoulli_kl(sigmoid(t[..., :c] / temperature), sigmoid(s[..., :c] / temperature))
    kl_quality = bernoulli_kl(sigmoid(t[..., -1] / temperature), sigmoid(s[..., -1] / temperature))
    class_term = (kl.sum(-1) + kl_quality).mean() * temperature**2
    weight = sigmoid(t[..., :c]).max(-1) * sigmoid(t[..., -1])
    diff = np.abs(s[..., c : c + 4] - t[..., c : c + 4])
    smooth = np.where(diff < 1, 0.5 * diff**2, diff - 0.5).sum(-1)
    return float(class_term + box_weight * (smooth * weight).sum() / weight.sum())


def bound_kd(
    temperature: float = 2.0, box_weight: float = 1.5, layout: RawLayout = LAYOUT
) -> DenseKDLoss:
    loss = DenseKDLoss(temperature=temperature, box_weight=box_weight)
    model = torch.nn.Module()
    model.raw_layout = layout  # type: ignore[assignment]
    loss.bind(model)
    return loss


def test_dense_kd_matches_a_direct_computation() -> None:
    generator = torch.Generator().manual_seed(0)
    student, teacher = (3 * torch.randn(2, 5, 8, generator=generator) for _ in range(2))
    value = bound_kd()(student, teacher)
    expected = dense_kd_reference(student.double().numpy(), teacher.double().numpy(), 2.0, 1.5)
    assert value.item() == pytest.approx(expected, rel=1e-5)
    assert bound_kd()(teacher, teacher).item() == pytest.approx(0.0, abs=1e-6)


def test_dense_kd_softmax_classes_are_one_distribution() -> None:
    layout = RawLayout(classes=3, boxes=4, activation="softmax")  # class 0: background
    generator = torch.Generator().manual_seed(1)
    student, teacher = (torch.randn(1, 2, 7, generator=generator).double() for _ in range(2))
    value = bound_kd(temperature=1.0, box_weight=0.0, layout=layout)(student, teacher)
    p = torch.softmax(teacher[..., :3], -1).numpy()
    q = torch.softmax(student[..., :3], -1).numpy()
    assert value.item() == pytest.approx(float((p * np.log(p / q)).sum(-1).mean()), rel=1e-5)


def test_dense_kd_trains_the_student_toward_the_teacher() -> None:
    generator = torch.Generator().manual_seed(2)
    student, teacher = (2 * torch.randn(2, 6, 8, generator=generator) for _ in range(2))
    loss = bound_kd()
    values = trains(lambda s: loss(s, teacher), student, lr=5.0)
    assert values[-1] < 0.01 * values[0]


def test_dense_kd_names_the_two_layouts_when_they_differ() -> None:
    with pytest.raises(ValueError, match=r"student raw output \(2, 5, 8\), teacher \(2, 6, 8\)"):
        bound_kd()(torch.zeros(2, 5, 8), torch.zeros(2, 6, 8))
    with pytest.raises(ValueError, match="8 channels per anchor"):
        bound_kd()(torch.zeros(2, 5, 9), torch.zeros(2, 5, 9))
    with pytest.raises(RuntimeError, match="bind"):
        DenseKDLoss()(torch.zeros(1, 1, 8), torch.zeros(1, 1, 8))
    with pytest.raises(TypeError, match="raw_layout"):
        DenseKDLoss().bind(torch.nn.Linear(1, 1))


def test_dense_kd_binds_to_the_dense_detector() -> None:
    student, teacher = tiny_detector(0), tiny_detector(1)
    loss = DenseKDLoss()
    loss.bind(student)
    x = torch.randn(2, *SHAPE)
    value = loss(student(x), teacher(x).detach())
    assert value.shape == () and value.item() > 0
    assert student(x).shape == (2, ANCHORS, CLASSES + 5)


# -- pkd -------------------------------------------------------------------------------------


def standardized(x: np.ndarray) -> np.ndarray:
    flat = x.reshape(*x.shape[:2], -1)
    mean = flat.mean(-1, keepdims=True)
    std = flat.std(-1, ddof=1, keepdims=True)
    return ((flat - mean) / (std + 1e-6)).reshape(x.shape)


def test_pkd_matches_a_direct_computation_and_ignores_scale_and_shift() -> None:
    generator = torch.Generator().manual_seed(3)
    student, teacher = (torch.randn(2, 3, 4, 5, generator=generator) for _ in range(2))
    expected = ((standardized(student.numpy()) - standardized(teacher.numpy())) ** 2).mean()
    assert PKDLoss()(student, teacher).item() == pytest.approx(float(expected), rel=1e-5)
    # Pearson correlation: a per-channel affine map of the teacher is a perfect match.
    scale = torch.tensor([0.5, 3.0, 10.0])[None, :, None, None]
    assert PKDLoss()(teacher * scale + 7, teacher).item() == pytest.approx(0.0, abs=1e-6)


def test_pkd_foreground_counts_the_cells_the_boxes_cover() -> None:
    # A 4x4 map; a box over x 0.3..0.6 and y 0..0.2 covers cells x 1-2 (0.25..0.75), y 0.
    targets = torch.tensor([[[0, 0.3, 0.0, 0.6, 0.2, 0], [-1, 0, 0, 0, 0, 0]]])
    mask = box_mask(targets, 4, 4)
    expected = np.zeros((4, 4))
    expected[0, 1:3] = 1
    np.testing.assert_array_equal(mask[0, 0].numpy(), expected)
    generator = torch.Generator().manual_seed(4)
    student, teacher = (torch.randn(1, 2, 4, 4, generator=generator) for _ in range(2))
    squared = (standardized(student.numpy()) - standardized(teacher.numpy())) ** 2
    value = PKDLoss(foreground=True)(student, teacher, targets).item()
    assert value == pytest.approx(float(squared[0][:, expected > 0].mean()), rel=1e-5)
    empty = torch.tensor([[[-1.0, 0, 0, 0, 0, 0]]])
    assert PKDLoss(foreground=True)(student, teacher, empty).item() == 0.0


def test_pkd_trains_and_explains_bad_inputs() -> None:
    generator = torch.Generator().manual_seed(5)
    student, teacher = (torch.randn(2, 3, 4, 4, generator=generator) for _ in range(2))
    values = trains(lambda s: PKDLoss()(s, teacher), student, lr=5.0)
    assert values[-1] < 0.05 * values[0]
    with pytest.raises(ValueError, match="adapter"):
        PKDLoss()(torch.zeros(1, 2, 4, 4), torch.zeros(1, 3, 4, 4))
    with pytest.raises(ValueError, match="needs the batch's"):
        PKDLoss(foreground=True)(student, teacher, None)


def test_pkd_meets_the_loss_contract() -> None:
    from compressor.testing import check_loss

    assert check_loss("pkd", zero_when_equal=True) >= 0
