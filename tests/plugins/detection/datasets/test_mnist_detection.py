"""``mnist_detection``: seeded canvases, tight ink boxes, and digits kept apart by split."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from compressor_detection.datasets import DATASET_RECORDS, MnistDetectionOptions, mnist_canvas
from compressor_detection.datasets.mnist_canvas import INK

MNIST = next(r for r in DATASET_RECORDS if r.name == "mnist_detection")


def load(seed: int = 0, **options: Any) -> Any:
    return MNIST.build(MnistDetectionOptions(**options), seed=seed)


def test_canvases_are_seeded_and_split_by_the_fractions() -> None:
    data = load(images=200, seed=3)
    again, other = load(images=200, seed=3), load(images=200, seed=4)
    assert data.task == "detection" and data.class_names == [str(d) for d in range(10)]
    assert data.describe()["sizes"] == {"train": 130, "val": 30, "test": 40}
    for name in ("train", "val", "test"):
        np.testing.assert_array_equal(data.split(name).pixels, again.split(name).pixels)
        np.testing.assert_array_equal(data.split(name).targets.rows, again.split(name).targets.rows)
    assert not np.array_equal(data.train.pixels, other.train.pixels)
    image, target = data.train[5]
    assert image.mode == "RGB" and image.size == (96, 96) and target.dtype == np.float32
    assert data.train.sizes.tolist()[0] == [96, 96]
    assert data.train.sample_name(5) == "mnist_detection train canvas 5"


def test_every_box_is_the_tight_box_of_its_digits_ink() -> None:
    data = load(images=60, noise=0.0, size=64, digit_size=[16, 28], digits_per_image=[1, 3])
    counts = np.concatenate([data.split(s).targets.counts() for s in ("train", "val", "test")])
    assert counts.min() >= 1 and counts.max() <= 3 and counts.max() > counts.min()
    for name in ("train", "val", "test"):
        split = data.split(name)
        for i in range(len(split)):
            canvas, rows = split.pixels[i], split.targets[i]
            assert set(rows[:, 0].tolist()) <= set(range(10)) and (rows[:, 5] == 0).all()
            outside = np.ones_like(canvas, dtype=bool)
            for _, x1, y1, x2, y2, _ in (rows * [1, 64, 64, 64, 64, 1]).round().astype(int):
                box = canvas[y1:y2, x1:x2]
                outside[y1:y2, x1:x2] = False
                # every edge row and column of the box holds ink: no box is looser than its digit
                edges = [box[0], box[-1], box[:, 0], box[:, -1]]
                assert all(edge.max() >= INK for edge in edges), (name, i)
            assert canvas[outside].max(initial=0) < INK, (name, i)


def test_validation_and_test_canvases_draw_on_digits_training_never_shows(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    drawn: dict[int, set[bytes]] = {}
    real = mnist_canvas.draw_canvases

    def recording(digits: np.ndarray, *args: Any, **kwargs: Any) -> Any:
        drawn[len(drawn)] = {d.tobytes() for d in digits}
        return real(digits, *args, **kwargs)

    monkeypatch.setattr(mnist_canvas, "draw_canvases", recording)
    data = load(images=100)
    train, val, test = drawn[0], drawn[1], drawn[2]
    assert len(train) > 3000 and len(val) > 600 and len(test) > 900
    assert not train & val and not train & test and not val & test
    assert data.details["digits"] == {"train": 3250, "val": 750, "test": 1000}


def test_options_are_checked() -> None:
    with pytest.raises(ValueError, match="does not fit a 32px canvas"):
        MnistDetectionOptions(size=32, digit_size=[20, 40])
    with pytest.raises(ValueError, match=r"expected \[min, max\]"):
        MnistDetectionOptions(digits_per_image=[3, 1])
