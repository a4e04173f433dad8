"""data.augment's per-sample keys: defaults, ``true`` for the defaults, one-line range errors."""

from __future__ import annotations

import pytest

from compressor import recipe
from tests.compressor.recipe.expect import error_of


@pytest.mark.parametrize(
    ("augment", "expected"),
    [
        (
            {"random_resized_crop": {"scale": [0.9, 0.2]}},
            (
                "data.augment.random_resized_crop.scale: invalid value [0.9, 0.2]: expected [min, max] "
                "with 0 <= min <= max <= 1"
            ),
        ),
        (
            {"random_resized_crop": {"scale": [0, 1]}},
            (
                "data.augment.random_resized_crop.scale: invalid value [0.0, 1.0]: the smallest crop must "
                "cover more than 0"
            ),
        ),
        (
            {"random_resized_crop": {"ratio": [2.0]}},
            "data.augment.random_resized_crop.ratio: invalid value [2.0]: expected [min, max]",
        ),
        (
            {"random_resized_crop": {"size": [0, 8]}},
            "data.augment.random_resized_crop.size: invalid value [0, 8]: expected a positive size",
        ),
        (
            {"color_jitter": {"hue": 0.7}},
            (
                "data.augment.color_jitter.hue: invalid value 0.7: input should be less than or equal "
                "to 0.5"
            ),
        ),
        (
            {"color_jitter": {"brightness": -1}},
            "data.augment.color_jitter.brightness: invalid value -1",
        ),
        (
            {"rand_augment": {"magnitude": 31}},
            "data.augment.rand_augment.magnitude: invalid value 31",
        ),
        ({"rand_augment": {"num_ops": 0}}, "data.augment.rand_augment.num_ops: invalid value 0"),
        (
            {"rand_augment": {"strength": 3}},
            "data.augment.rand_augment.strength: unknown key",
        ),
    ],
)
def test_bad_per_sample_options_are_one_line_naming_the_key(
    tiny_recipe, registry, augment, expected
) -> None:
    tiny_recipe["data"]["augment"] = augment
    assert error_of(tiny_recipe, registry).startswith(expected)


def test_true_means_the_defaults_and_nothing_is_on_by_default(tiny_recipe, registry) -> None:
    tiny_recipe["data"]["augment"] = {"shift": 2}
    plain = recipe.resolve(tiny_recipe, registry).recipe.data.augment
    assert not plain.per_sample and plain.random_resized_crop is None
    tiny_recipe["data"]["augment"] = {"random_resized_crop": True, "rand_augment": True}
    augment = recipe.resolve(tiny_recipe, registry).recipe.data.augment
    assert augment.per_sample
    assert augment.random_resized_crop.scale == [0.08, 1.0]
    assert augment.random_resized_crop.size is None
    assert (augment.rand_augment.num_ops, augment.rand_augment.magnitude) == (2, 9)
