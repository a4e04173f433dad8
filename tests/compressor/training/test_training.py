"""The training loop: teacher caching only when correct, consistent teaching, feature terms."""

from __future__ import annotations

import torch
from torch import nn

from compressor.data import DataBundle, Split
from compressor.recipe import AugmentConfig
from compressor.schemas import OptimizerConfig
from compressor.training import Teachers, WeightedLoss, fit


class _Bar:
    def advance(self, *args, **kwargs) -> None:
        pass


def _bundle(n: int = 96) -> DataBundle:
    g = torch.Generator().manual_seed(0)
    x = torch.randn(n, 1, 8, 8, generator=g)
    y = (x.mean((1, 2, 3)) > 0).long() + 2 * (x[:, 0, 0, 0] > 0).long()
    split = Split(x, y)
    return DataBundle(
        name="toy", train=split, val=split, test=split, num_classes=4, input_shape=(1, 8, 8)
    )


def _net(width: int = 8) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(1, width, 3, padding=1),
        nn.ReLU(),
        nn.AdaptiveAvgPool2d(2),
        nn.Flatten(),
        nn.Linear(4 * width, 4),
    )


class _KL(nn.Module):
    def forward(self, student, teacher, targets):
        return nn.functional.kl_div(
            student.log_softmax(1), teacher.softmax(1), reduction="batchmean"
        )


class _MSE(nn.Module):
    def forward(self, student, teacher, targets):
        return nn.functional.mse_loss(student, teacher)


def _fit(student, teachers, losses, **kwargs):
    defaults = dict(
        data=_bundle(),
        epochs=2,
        optimizer=OptimizerConfig(lr=0.01),
        batch_size=32,
        eval_batch_size=64,
        device="cpu",
        seed=0,
        bar=_Bar(),
    )
    return fit(student, losses=losses, teachers=teachers, **{**defaults, **kwargs})


def test_cached_teacher_outputs_train_exactly_like_fresh_ones() -> None:
    torch.manual_seed(0)
    teacher, start = _net(16).eval(), _net()
    results = []
    for cache in (True, False):
        student = _net()
        student.load_state_dict(start.state_dict())
        result = _fit(
            student, [teacher], [WeightedLoss("kl", 1.0, _KL(), True)], cache_teacher=cache
        )
        results.append((result, [p.detach().clone() for p in student.parameters()]))
    (cached, cached_params), (fresh, fresh_params) = results
    assert cached.teacher_cached and not fresh.teacher_cached
    for a, b in zip(cached_params, fresh_params, strict=True):
        assert torch.allclose(a, b, atol=1e-5)


def test_no_cache_with_augmentation_and_a_shared_cache_across_calls() -> None:
    teacher = _net(16).eval()
    terms = [WeightedLoss("kl", 1.0, _KL(), True)]
    augmented = _fit(_net(), [teacher], terms, augment=AugmentConfig(shift=1))
    assert not augmented.teacher_cached
    shared: dict = {}
    data = _bundle()
    _fit(_net(), [teacher], terms, teacher_cache=shared, data=data)
    assert len(shared) == 1
    (cached,) = shared.values()
    before = {k: v.clone() for k, v in cached.items()}
    again = _fit(_net(), [teacher], terms, teacher_cache=shared, data=data)
    assert again.teacher_cached and len(shared) == 1
    assert all(torch.equal(before[k], v) for k, v in shared[next(iter(shared))].items())


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
    teacher, student = _Recorder(_net(16)).eval(), _Recorder(_net())
    _fit(
        student,
        [teacher],
        [WeightedLoss("kl", 1.0, _KL(), True)],
        epochs=1,
        augment=AugmentConfig(shift=2, mixup=0.4),
    )
    train_batches = student.seen[:3]  # 96 samples in batches of 32; validation comes after
    assert len(train_batches) == 3 and len(teacher.seen) == 3
    for s, t in zip(train_batches, teacher.seen, strict=True):
        assert torch.equal(s, t)
    originals = _bundle().train.x
    assert not any(torch.equal(s, originals[: len(s)]) for s in train_batches)


def test_feature_term_with_adapter_trains_the_adapter_not_the_teacher() -> None:
    torch.manual_seed(0)
    teacher, student = _net(16).eval(), _net(4)
    frozen = [p.clone() for p in teacher.parameters()]
    term = WeightedLoss("mse", 1.0, _MSE(), True, student_at="0", teacher_at="0", adapter="conv1x1")
    result = _fit(student, [teacher], [term])
    adapter = result.adapters[0]
    assert adapter.inner[0].in_channels == 4 and adapter.inner[0].out_channels == 16
    assert all(torch.equal(a, b) for a, b in zip(frozen, teacher.parameters(), strict=True))
    assert result.history[-1]["loss"] < result.history[0]["loss"]
    assert not any(isinstance(m, nn.BatchNorm2d) for m in student.modules())  # adapter kept apart


def test_several_teachers_are_averaged_or_chosen() -> None:
    t1, t2 = _net(8).eval(), _net(8).eval()
    average = WeightedLoss("kl", 1.0, _KL(), True)
    second = WeightedLoss("kl", 1.0, _KL(), True, teacher_index=1)
    tutor = Teachers([t1, t2], [average, second], "cpu")
    x = torch.randn(5, 1, 8, 8)
    outputs = tutor.outputs(x)
    with torch.no_grad():
        assert torch.allclose(tutor.for_term(average, outputs), (t1(x) + t2(x)) / 2, atol=1e-6)
        assert torch.allclose(tutor.for_term(second, outputs), t2(x), atol=1e-6)
