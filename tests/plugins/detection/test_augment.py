"""Box-aware augmentation: the boxes move with the pixels, draws are seeded per sample."""

from __future__ import annotations

import pickle

import numpy as np
import pytest
import torch
from compressor_detection.augment import DetectionAugment, DetectionAugmentConfig

HEIGHT, WIDTH = 48, 64
#: Two filled boxes, one per colour channel: (channel, x1, y1, x2, y2) in pixels.
BOXES = [(0, 6, 8, 30, 28), (1, 36, 20, 60, 44)]


def scene() -> tuple[torch.Tensor, np.ndarray]:
    """A black image with a red and a green filled box, and their normalized target rows
    (class = channel, difficult set on the second)."""
    image = torch.zeros(3, HEIGHT, WIDTH)
    rows = []
    for channel, x1, y1, x2, y2 in BOXES:
        image[channel, y1:y2, x1:x2] = 1.0
        rows.append([channel, x1 / WIDTH, y1 / HEIGHT, x2 / WIDTH, y2 / HEIGHT, channel])
    return image, np.asarray(rows, dtype=np.float32)


def assert_boxes_follow_pixels(image: torch.Tensor, rows: np.ndarray) -> None:
    """Inside each moved box its colour fills the pixels; outside it, that colour is absent."""
    scale = np.array([WIDTH, HEIGHT, WIDTH, HEIGHT])
    for row in rows:
        channel = int(row[0])
        x1, y1, x2, y2 = row[1:5] * scale
        plane = image[channel]
        inner = plane[int(np.ceil(y1)) + 1 : int(y2) - 1, int(np.ceil(x1)) + 1 : int(x2) - 1]
        if inner.numel():
            assert inner.min() > 0.8, (row, inner.min())
        outer = plane.clone()
        outer[
            max(int(y1) - 1, 0) : int(np.ceil(y2)) + 1, max(int(x1) - 1, 0) : int(np.ceil(x2)) + 1
        ] = 0
        assert outer.max() < 0.2, (row, outer.max())


def test_a_flip_mirrors_pixels_and_boxes_exactly() -> None:
    image, rows = scene()
    out, moved = DetectionAugment(DetectionAugmentConfig(horizontal_flip=1.0), seed=0)(
        image, rows, 0, 0
    )
    torch.testing.assert_close(out, image.flip(-1))
    np.testing.assert_allclose(moved[:, 1], 1 - rows[:, 3], atol=1e-6)
    np.testing.assert_allclose(moved[:, 3], 1 - rows[:, 1], atol=1e-6)
    np.testing.assert_array_equal(moved[:, [0, 2, 4, 5]], rows[:, [0, 2, 4, 5]])


def test_boxes_move_with_the_pixels_through_jitter_and_crops() -> None:
    config = DetectionAugmentConfig(horizontal_flip=0.5, scale_jitter=[0.5, 1.6], iou_crop=True)
    augment = DetectionAugment(config, seed=11)
    image, rows = scene()
    counts = []
    for index in range(24):
        out, moved = augment(image, rows, index, 0)
        assert out.shape == image.shape and out.dtype == torch.float32
        assert moved.dtype == np.float32 and moved.shape[1] == 6
        assert ((moved[:, 1:5] >= 0) & (moved[:, 1:5] <= 1)).all()
        assert (moved[:, 3] > moved[:, 1]).all() and (moved[:, 4] > moved[:, 2]).all()
        # a kept box keeps its own class and difficult flag
        assert set(map(tuple, moved[:, [0, 5]].tolist())) <= {(0.0, 0.0), (1.0, 1.0)}
        assert_boxes_follow_pixels(out, moved)
        counts.append(len(moved))
    assert min(counts) < 2 == max(counts)  # some crops dropped a box, others kept both


def test_draws_depend_on_seed_epoch_and_index_only() -> None:
    config = DetectionAugmentConfig(scale_jitter=[0.6, 1.4], iou_crop=True, photometric=True)
    image, rows = scene()
    first = DetectionAugment(config, seed=5)
    alone = first(image, rows, 7, 2)
    for index in range(5):  # other samples in between change nothing
        first(image, rows, index, 2)
    again = pickle.loads(pickle.dumps(first))(image, rows, 7, 2)  # as in a worker
    torch.testing.assert_close(again[0], alone[0])
    np.testing.assert_array_equal(again[1], alone[1])
    state = torch.random.get_rng_state()
    other_epoch = first(image, rows, 7, 3)
    assert torch.equal(torch.random.get_rng_state(), state)  # the caller's stream is untouched
    other_seed = DetectionAugment(config, seed=6)(image, rows, 7, 2)
    assert not torch.equal(other_epoch[0], alone[0]) and not torch.equal(other_seed[0], alone[0])


def test_empty_padded_and_tensor_targets() -> None:
    image, rows = scene()
    config = DetectionAugmentConfig(horizontal_flip=0.5, scale_jitter=[0.5, 1.5], iou_crop=True)
    augment = DetectionAugment(config, seed=0)
    out, none = augment(image, np.zeros((0, 6), np.float32), 3, 0)
    assert out.shape == image.shape and none.shape == (0, 6)
    padded = np.concatenate([rows, [[-1, 0, 0, 0, 0, 0]]]).astype(np.float32)
    _, kept = augment(image, torch.from_numpy(padded), 1, 0)
    assert isinstance(kept, torch.Tensor) and (kept[:, 0] >= 0).all() and len(kept) <= 2


def test_colour_changes_pixels_not_boxes_and_options_are_checked() -> None:
    image, rows = scene()
    config = DetectionAugmentConfig(photometric={"p": 1.0})
    out, moved = DetectionAugment(config, seed=0)(image, rows, 0, 0)
    np.testing.assert_allclose(moved, rows, atol=1e-6)
    assert not torch.equal(out, image)
    assert DetectionAugmentConfig(iou_crop=True).iou_crop is not None
    assert (
        not DetectionAugmentConfig().active and DetectionAugmentConfig(horizontal_flip=0.5).active
    )
    with pytest.raises(ValueError, match=r"expected \[min, max\] zoom"):
        DetectionAugmentConfig(scale_jitter=[1.5, 0.5])
    with pytest.raises(ValueError, match="min_ious must include 0.0 or 1.0"):
        DetectionAugmentConfig(iou_crop={"min_ious": [0.5, 0.7]})
