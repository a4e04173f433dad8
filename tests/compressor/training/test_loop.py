"""The training loop: consistent teaching on augmented batches, feature terms with adapters."""

from __future__ import annotations

import torch
from torch import nn

from compressor.recipe import AugmentConfig
from compressor.training import WeightedLoss
from tests.compressor.training.toy import KL, MSE, bundle, fit_toy, net


class _Recorder(nn.Module):
    """Records every batch it sees, then acts like ``inner``."""

    def __init__(self, inner: nn.Module) -> None:
        super().__init__()
        self.inner = inner
        self.seen: list[torch.Tensor] = []

    def forward(self, x):
        self.seen.append(x.detach().clone())
        return self.inner(x)


def test_teacher_sees_the_same_augmented_and_mixed_batch() -> None:
    teacher, student = _Recorder(net(16)).eval(), _Recorder(net())
    fit_toy(
        student,
        [teacher],
        [WeightedLoss("kl", 1.0, KL(), True)],
        epochs=1,
        augment=AugmentConfig(shift=2, mixup=0.4),
    )
    train_batches = student.seen[:3]  # 96 samples in batches of 32; validation comes after
    assert len(train_batches) == 3 and len(teacher.seen) == 3
    for s, t in zip(train_batches, teacher.seen, strict=True):
        assert torch.equal(s, t)
    originals = bundle().train.x
    assert not any(torch.equal(s, originals[: len(s)]) for s in train_batches)


def test_feature_term_with_adapter_trains_the_adapter_not_the_teacher() -> None:
    torch.manual_seed(0)
    teacher, student = net(16).eval(), net(4)
    frozen = [p.clone() for p in teacher.parameters()]
    term = WeightedLoss("mse", 1.0, MSE(), True, student_at="0", teacher_at="0", adapter="conv1x1")
    result = fit_toy(student, [teacher], [term])
    adapter = result.adapters[0]
    assert adapter.inner[0].in_channels == 4 and adapter.inner[0].out_channels == 16
    assert all(torch.equal(a, b) for a, b in zip(frozen, teacher.parameters(), strict=True))
    assert result.history[-1]["loss"] < result.history[0]["loss"]
    assert not any(isinstance(m, nn.BatchNorm2d) for m in student.modules())  # adapter kept apart
