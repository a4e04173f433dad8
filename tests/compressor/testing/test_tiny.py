"""compressor.testing.tiny: the models and data fit together, are seeded, leave the RNG alone."""

from __future__ import annotations

import torch

from compressor.testing import tiny_cnn, tiny_data_bundle, tiny_mlp


def test_tiny_models_and_data_fit_together() -> None:
    bundle = tiny_data_bundle()
    assert bundle.input_shape == (1, 8, 8) and len(bundle.class_names) == bundle.num_classes == 4
    for make in (tiny_cnn, tiny_mlp):
        assert make()(bundle.test.x[:3]).shape == (3, 4)
        first, again = make().state_dict(), make().state_dict()
        assert all(torch.equal(first[k], again[k]) for k in first)  # seeded
    assert torch.equal(tiny_data_bundle().train.x, bundle.train.x)


def test_tiny_digits_are_the_real_digits() -> None:
    bundle = tiny_data_bundle("digits")
    assert bundle.name == "digits" and bundle.num_classes == 10 and bundle.input_shape == (1, 8, 8)


def test_checks_do_not_disturb_the_global_rng() -> None:
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    tiny_cnn(), tiny_mlp()
    assert torch.equal(torch.rand(3), expected)
