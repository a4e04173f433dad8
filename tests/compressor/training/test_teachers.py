"""Teachers: caching their outputs only when correct, sharing the cache, several teachers."""

from __future__ import annotations

import torch

from compressor.recipe import AugmentConfig
from compressor.training import Teachers, WeightedLoss
from tests.compressor.training.toy import KL, bundle, fit_toy, net


def test_cached_teacher_outputs_train_exactly_like_fresh_ones() -> None:
    torch.manual_seed(0)
    teacher, start = net(16).eval(), net()
    results = []
    for cache in (True, False):
        student = net()
        student.load_state_dict(start.state_dict())
        result = fit_toy(
            student, [teacher], [WeightedLoss("kl", 1.0, KL(), True)], cache_teacher=cache
        )
        results.append((result, [p.detach().clone() for p in student.parameters()]))
    (cached, cached_params), (fresh, fresh_params) = results
    assert cached.teacher_cached and not fresh.teacher_cached
    for a, b in zip(cached_params, fresh_params, strict=True):
        assert torch.allclose(a, b, atol=1e-5)


def test_no_cache_with_augmentation_and_a_shared_cache_across_calls() -> None:
    teacher = net(16).eval()
    terms = [WeightedLoss("kl", 1.0, KL(), True)]
    augmented = fit_toy(net(), [teacher], terms, augment=AugmentConfig(shift=1))
    assert not augmented.teacher_cached
    shared: dict = {}
    data = bundle()
    fit_toy(net(), [teacher], terms, teacher_cache=shared, data=data)
    assert len(shared) == 1
    (cached,) = shared.values()
    before = {k: v.clone() for k, v in cached.outputs.items()}
    again = fit_toy(net(), [teacher], terms, teacher_cache=shared, data=data)
    assert again.teacher_cached and len(shared) == 1
    assert all(torch.equal(before[k], v) for k, v in shared[next(iter(shared))].outputs.items())


def test_several_teachers_are_averaged_or_chosen() -> None:
    t1, t2 = net(8).eval(), net(8).eval()
    average = WeightedLoss("kl", 1.0, KL(), True)
    second = WeightedLoss("kl", 1.0, KL(), True, teacher_index=1)
    tutor = Teachers([t1, t2], [average, second], "cpu")
    x = torch.randn(5, 1, 8, 8)
    outputs = tutor.outputs(x)
    with torch.no_grad():
        assert torch.allclose(tutor.for_term(average, outputs), (t1(x) + t2(x)) / 2, atol=1e-6)
        assert torch.allclose(tutor.for_term(second, outputs), t2(x), atol=1e-6)
