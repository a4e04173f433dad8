"""check_dataset: passes on the built-in datasets and fails, clearly, on broken ones."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest
import torch

from compressor.data import DataBundle, Split
from compressor.records import DatasetPlugin
from compressor.testing import check_dataset, tiny_data_bundle


@pytest.mark.parametrize("name", ["digits", "mnist"])
def test_the_built_in_datasets_pass(name: str) -> None:
    assert check_dataset(name).name == name


def test_options_and_seed_are_passed_on() -> None:
    bundle = check_dataset("digits", {"val_fraction": 0.1}, seed=3)
    assert (
        bundle.name == "digits" and len(bundle.train) + len(bundle.val) + len(bundle.test) == 1797
    )


def test_a_record_or_a_factory_passes() -> None:
    record = DatasetPlugin(name="tiny", factory=lambda options, seed: tiny_data_bundle(seed=seed))
    assert check_dataset(record).name == "tiny_random"
    assert check_dataset(lambda options, seed: tiny_data_bundle(seed=seed)).num_classes == 4


def _broken(**changes: Any):
    """A dataset factory returning the tiny bundle with ``changes`` applied."""

    def factory(options: Any, seed: int) -> DataBundle:
        return dataclasses.replace(tiny_data_bundle(seed=seed), **changes)

    return factory


_TINY = tiny_data_bundle()


def _unseeded(options: Any, seed: int) -> DataBundle:
    x = torch.randn(8, 1, 8, 8)  # the global generator: a new split on every call
    return dataclasses.replace(_TINY, train=Split(x, torch.zeros(8, dtype=torch.int64)))


@pytest.mark.parametrize(
    ("factory", "message"),
    [
        (
            lambda options, seed: {"train": None},
            "must return a compressor.data.DataBundle, got dict",
        ),
        (_broken(name=""), "DataBundle.name must be the dataset's name"),
        (
            _broken(val=Split(torch.zeros(0, 1, 8, 8), torch.zeros(0, dtype=torch.int64))),
            "the val split is empty",
        ),
        (
            _broken(train=Split(_TINY.train.x.double(), _TINY.train.y)),
            "x must be float32, got torch.float64",
        ),
        (
            _broken(test=Split(_TINY.test.x.view(32, 64), _TINY.test.y)),
            r"x has shape \(32, 64\), expected \(N, \*input_shape\) = \(N, 1, 8, 8\)",
        ),
        (
            _broken(train=Split(_TINY.train.x, _TINY.train.y + 1)),
            r"labels range over 1..4, outside 0..3",
        ),
        (_broken(train=Split(_TINY.train.x, _TINY.train.y.int())), "y must be int64"),
        (
            _broken(
                test=Split(
                    torch.full((2, 1, 8, 8), float("nan")), torch.zeros(2, dtype=torch.int64)
                )
            ),
            "NaN or infinite",
        ),
        (_broken(class_names=["a", "b"]), "2 class_names for 4 classes"),
        (
            _broken(mean=(0.1, 0.2), std=(1.0, 1.0)),
            r"mean has 2 and std 2 values; give one value, or one per channel \(1\)",
        ),
        (_broken(std=(0.0,)), "std must be positive"),
        (_broken(mean=(0.5,), std=(0.25,)), r"x \* std \+ mean ranges over .*, not 0..1"),
        (_broken(num_classes=1), "num_classes must be an int of at least 2"),
        (_unseeded, "built twice with seed 0, the train split differs"),
    ],
)
def test_broken_datasets_fail_with_a_clear_message(factory, message: str) -> None:
    with pytest.raises(AssertionError, match=message):
        check_dataset(factory)


def test_an_unknown_name_says_so() -> None:
    with pytest.raises(AssertionError, match="unknown dataset 'digitz'"):
        check_dataset("digitz")


def test_a_failing_factory_is_named() -> None:
    def fails(options: Any, seed: int) -> DataBundle:
        raise OSError("no such file: data.csv")

    with pytest.raises(AssertionError, match="failed to build: OSError: no such file: data.csv"):
        check_dataset(fails)


def _images(options: Any, seed: int, n: int = 30) -> DataBundle:
    from tests.compressor.data.samples import Images

    return DataBundle(name="images", train=Images(n), val=Images(6), test=Images(9), num_classes=3)  # type: ignore[arg-type]


def test_a_dataset_of_samples_is_checked_as_a_run_streams_it() -> None:
    from compressor.data import StreamedSplit

    bundle = check_dataset(_images, preprocess={"resize": [8, 8], "mean": "auto", "std": "auto"})
    assert isinstance(bundle.train, StreamedSplit) and bundle.input_shape == (3, 8, 8)
    assert len(bundle.mean) == 3


def test_a_dataset_of_samples_with_bad_labels_or_samples_fails_clearly() -> None:
    from tests.compressor.data.samples import Corrupt, Images

    class WrongLabels(Images):
        def __init__(self, n: int) -> None:
            super().__init__(n)
            self.targets = self.targets + 2

    def wrong(options: Any, seed: int) -> DataBundle:
        return dataclasses.replace(_images(options, seed), test=WrongLabels(9))

    with pytest.raises(
        AssertionError, match=r"the test split: labels range over 2..4, outside 0..2"
    ):
        check_dataset(wrong)

    def corrupt(options: Any, seed: int) -> DataBundle:
        return dataclasses.replace(_images(options, seed), val=Corrupt(8))

    with pytest.raises(AssertionError, match=r"cannot read val sample 5 \(images/005.png\)"):
        check_dataset(corrupt)
