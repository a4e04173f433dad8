"""data.in_memory, memory_budget, num_workers and preprocess: valid values, one-line errors."""

from __future__ import annotations

import pytest

from compressor import recipe
from tests.compressor.recipe.expect import error_of


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (
            {"in_memory": "maybe"},
            "data.in_memory: invalid value 'maybe': expected auto, true or false",
        ),
        ({"in_memory": 1}, "data.in_memory: invalid value 1: expected auto, true or false"),
        (
            {"memory_budget": "2XB"},
            (
                "data.memory_budget: invalid value '2XB': expected auto or a size such as 2GiB, "
                "512MB, 1.5G or 1000000 (bytes)"
            ),
        ),
        ({"memory_budget": -1}, "data.memory_budget: invalid value -1: expected auto or a size"),
        (
            {"memory_budget": True},
            "data.memory_budget: invalid value True: expected auto or a size",
        ),
        (
            {"num_workers": -2},
            (
                "data.num_workers: invalid value -2: expected auto or a number of worker processes, "
                "0 or more (0 loads in the main process)"
            ),
        ),
        (
            {"num_workers": "many"},
            "data.num_workers: invalid value 'many': expected auto or a number",
        ),
        (
            {"preprocess": {"resise": 32}},
            "data.preprocess.resise: unknown key; did you mean 'resize'?",
        ),
        (
            {"preprocess": {"resize": [32, 32, 3]}},
            (
                "data.preprocess.resize: invalid value [32, 32, 3]: expected a positive size in pixels "
                "or [height, width]"
            ),
        ),
        (
            {"preprocess": {"center_crop": 0}},
            "data.preprocess.center_crop: invalid value 0: expected a positive size",
        ),
        (
            {"preprocess": {"interpolation": "lanczos"}},
            (
                "data.preprocess.interpolation: invalid value 'lanczos': input should be 'nearest', "
                "'bilinear' or 'bicubic'"
            ),
        ),
        (
            {"preprocess": {"mean": [0.5], "std": "auto"}},
            "data.preprocess: mean [0.5] and std 'auto': give both as lists, both auto, or neither",
        ),
        ({"preprocess": {"mean": [0.5]}}, "data.preprocess: mean [0.5] and std None: give both"),
        (
            {"preprocess": {"mean": [0.5, 0.5], "std": [0.2]}},
            "data.preprocess: mean has 2 values and std 1; give as many",
        ),
        (
            {"preprocess": {"mean": [0.5], "std": [0.0]}},
            "data.preprocess.std: invalid value [0.0]: expected auto or a list of positive numbers",
        ),
        (
            {"preprocess": {"mean": "median", "std": [1]}},
            "data.preprocess.mean: invalid value 'median': expected auto or a list of numbers",
        ),
        (
            {"preprocess": {"resize": 32, "center_crop": [24, 40]}},
            "data.preprocess: center_crop [24, 40] is larger than resize 32; crop at most the resized size",
        ),
    ],
)
def test_bad_data_fields_are_one_line_naming_the_field(
    tiny_recipe, registry, data, expected
) -> None:
    tiny_recipe["data"].update(data)
    assert error_of(tiny_recipe, registry).startswith(expected)


def test_the_defaults_and_valid_values(tiny_recipe, registry) -> None:
    data = recipe.resolve(tiny_recipe, registry).recipe.data
    assert (data.in_memory, data.memory_budget, data.num_workers, data.preprocess) == (
        "auto",
        "auto",
        "auto",
        None,
    )
    tiny_recipe["data"].update(
        in_memory=False,
        memory_budget="1.5GiB",
        num_workers=0,
        preprocess={"resize": 36, "center_crop": 32, "mean": "auto", "std": "auto"},
    )
    data = recipe.resolve(tiny_recipe, registry).recipe.data
    assert data.in_memory is False and data.num_workers == 0
    assert data.memory_budget == 1610612736  # resolved to bytes
    assert data.preprocess.resize == 36 and data.preprocess.mean == "auto"


@pytest.mark.parametrize(
    ("text", "size"),
    [
        ("2GiB", 2 << 30),
        ("512MB", 512_000_000),
        ("1.5g", 3 << 29),
        ("100 kib", 102_400),
        (1000, 1000),
        ("7", 7),
    ],
)
def test_memory_budget_sizes(text, size) -> None:
    assert recipe.models.parse_size(text) == size
