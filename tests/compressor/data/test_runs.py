"""Whole runs on a dataset plugin that gives samples: streamed or in memory, and its bad data."""

from __future__ import annotations

import gc
from typing import Any

import pytest

from compressor import hookimpl
from compressor.data import DataBundle, SampleError, WorkerDied
from compressor.records import DatasetPlugin
from compressor.testing import run_tiny_recipe
from tests.compressor.data.samples import Corrupt, Dying, Images

TRAIN = {
    "name": "model",
    "type": "train",
    "model": {"name": "seed_mlp", "options": {"hidden": [8]}},
    "epochs": 2,
}
PREPROCESS = {"resize": [8, 8], "mean": "auto", "std": "auto"}


class ImagePlugin:
    """A third party's dataset plugin whose splits are datasets of uint8 images."""

    def __init__(self, kind: type[Images] = Images) -> None:
        self.kind = kind

    def build(self, options: Any, seed: int) -> DataBundle:
        return DataBundle(
            name="images",
            train=self.kind(60),  # type: ignore[arg-type]  # datasets of samples: the run wraps them
            val=Images(20),  # type: ignore[arg-type]
            test=Images(21),  # type: ignore[arg-type]
            num_classes=3,
            class_names=["a", "b", "c"],
        )

    @hookimpl
    def compressor_register_datasets(self) -> list[DatasetPlugin]:
        return [DatasetPlugin(name="images", factory=self.build)]


def _run(tmp_path, kind: type[Images] = Images, **data: Any):
    return run_tiny_recipe(
        [TRAIN],
        plugins=[("images_plugin", ImagePlugin(kind))],
        data={"dataset": "images", "batch_size": 16, "preprocess": PREPROCESS, **data},
        tmp_path=tmp_path,
        expect_error=kind is not Images,
    )


def test_a_dataset_of_samples_trains_alike_streamed_and_in_memory(tmp_path) -> None:
    held = _run(tmp_path / "memory").metrics
    streamed = _run(tmp_path / "streamed", in_memory=False, num_workers=2).metrics
    assert held["data"]["in_memory"] is True and streamed["data"]["in_memory"] is False
    assert held["data"]["loading"]["reason"].startswith("75.8 KiB decoded, within the ")
    assert held["data"]["input_shape"] == [3, 8, 8]
    prep = held["data"]["preprocessing"]
    assert prep["resize"] == [8, 8] and prep["value_range"] == [0.0, 255.0]
    assert len(prep["mean"]) == 3 and prep["mean"] == held["data"]["mean"]
    for key in ("test_accuracy", "val_accuracy"):
        assert streamed["stages"]["model"][key] == held["stages"]["model"][key]
    drop = lambda h: [{k: v for k, v in e.items() if k != "seconds"} for e in h]
    assert drop(streamed["stages"]["model"]["history"]) == drop(held["stages"]["model"]["history"])


@pytest.mark.parametrize("in_memory", [True, False])
def test_an_unreadable_sample_fails_the_run_in_one_line_naming_it(tmp_path, in_memory) -> None:
    run = _run(tmp_path, Corrupt, in_memory=in_memory, num_workers=2)
    assert isinstance(run.error, SampleError)
    assert str(run.error) == (
        "data: cannot read train sample 5 (images/005.png): OSError: image file is truncated "
        "(3 bytes not processed)"
    )


@pytest.mark.filterwarnings("ignore::pytest.PytestUnhandledThreadExceptionWarning")
def test_a_dying_worker_fails_the_run_in_one_line(tmp_path) -> None:
    run = _run(tmp_path, Dying, in_memory=False, num_workers=2)
    assert isinstance(run.error, WorkerDied)
    assert "\n" not in str(run.error) and "set data.num_workers: 0" in str(run.error)
    del run
    gc.collect()  # the dead worker's loader goes now (see test_workers.py)
