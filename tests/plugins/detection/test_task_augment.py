"""The detection task's augmentation inside a split: box-aware keys of data.augment, targets
padded back to the split's rows, classification's keys refused."""

from __future__ import annotations

import torch
from compressor_detection.augment import DetectionAugmentConfig
from compressor_detection.task import DetectionTask, PaddedBoxes

from compressor.testing import run_tiny_recipe


def test_targets_keep_the_splits_rows_and_boxes_move_with_the_flip() -> None:
    task = DetectionTask()
    augment = task.sample_augment(DetectionAugmentConfig(horizontal_flip=1.0), seed=0)
    assert isinstance(augment, PaddedBoxes)
    image = torch.zeros(3, 32, 32)
    image[:, 4:12, 2:10] = 1.0  # a bright box at x 2..10
    target = torch.tensor(
        [[3, 2 / 32, 4 / 32, 10 / 32, 12 / 32, 0], [-1, 0, 0, 0, 0, 0], [-1, 0, 0, 0, 0, 0]]
    )
    flipped, moved = augment(image, target, 0, 0)
    assert moved.shape == target.shape and moved[1:, 0].tolist() == [-1, -1]
    torch.testing.assert_close(moved[0, 1:5] * 32, torch.tensor([22.0, 4.0, 30.0, 12.0]))
    assert flipped[:, 4:12, 22:30].min() > 0.9 and flipped[:, 4:12, 2:10].max() < 0.1
    assert task.sample_augment(DetectionAugmentConfig(), seed=0) is None  # nothing on


def test_a_detection_run_trains_with_box_aware_augmentation(tmp_path) -> None:
    data = {
        "dataset": "mnist_detection",
        "options": {"images": 40, "size": 48, "digit_size": [14, 24]},
        "augment": {"horizontal_flip": 0.5, "iou_crop": True},
        "batch_size": 8,
    }
    stage = {
        "name": "teacher",
        "type": "train",
        "model": {"name": "dense_detector", "options": {"channels": [8, 16, 16], "levels": [8]}},
        "epochs": 1,
    }
    run = run_tiny_recipe([stage], data=data, tmp_path=tmp_path)
    teacher = run.metrics["stages"]["teacher"]
    assert "test_map" in teacher and teacher["teacher_cached"] is False
