"""The detection scorer: COCO AP on cases whose value is known by hand."""

from __future__ import annotations

import math
import pickle

import numpy as np
import pytest
from compressor_detection.metric import DetectionScorer

#: A non-square input: a swapped width and height would move every box.
SHAPE = (3, 50, 100)
NAMES = ["cat", "dog", "owl"]


def outputs(*detections: list[tuple[int, float, list[float]]], k: int = 4) -> list[np.ndarray]:
    """Deployed outputs from (label, score, pixel box) rows per image, padded to ``k``."""
    boxes = np.zeros((len(detections), k, 4), np.float32)
    scores = np.zeros((len(detections), k), np.float32)
    labels = np.full((len(detections), k), -1, np.int64)
    for i, rows in enumerate(detections):
        for j, (label, score, box) in enumerate(rows):
            boxes[i, j], scores[i, j], labels[i, j] = box, score, label
    return [boxes, scores, labels]


def targets(*images: list[tuple[int, list[float], int]], m: int = 3) -> np.ndarray:
    """Padded normalized targets from (class, pixel box, difficult) rows per image."""
    batch = np.zeros((len(images), m, 6), np.float32)
    batch[:, :, 0] = -1
    scale = np.array([100, 50, 100, 50], np.float32)
    for i, rows in enumerate(images):
        for j, (label, box, difficult) in enumerate(rows):
            batch[i, j] = [label, *(np.array(box, np.float32) / scale), difficult]
    return batch


CAT = [10.0, 5.0, 40.0, 45.0]
DOG = [60.0, 10.0, 90.0, 30.0]


def test_perfect_predictions_score_one_and_absent_classes_are_nan() -> None:
    scorer = DetectionScorer(SHAPE, NAMES)
    scorer.update(outputs([(0, 0.9, CAT), (1, 0.8, DOG)]), targets([(0, CAT, 0), (1, DOG, 0)]))
    result = scorer.compute()
    assert result["map"] == pytest.approx(1.0)
    assert result["map50"] == pytest.approx(1.0)
    assert result["map75"] == pytest.approx(1.0)
    assert result["per_class"]["cat"] == pytest.approx(1.0)
    assert math.isnan(result["per_class"]["owl"])


def test_a_missed_object_halves_recall() -> None:
    # Two cats, one found: precision 1 up to recall 0.5, then nothing. COCO's 101-point
    # interpolation gives the recall thresholds 0, 0.01, ..., 0.5: 51 of 101.
    scorer = DetectionScorer(SHAPE, NAMES)
    scorer.update(outputs([(0, 0.9, CAT)]), targets([(0, CAT, 0), (0, DOG, 0)]))
    assert scorer.compute()["map50"] == pytest.approx(51 / 101)


def test_a_false_positive_ranked_first_halves_precision() -> None:
    # One cat; a wrong box scored 0.9, then the right one 0.8: at recall 1, precision 1/2.
    scorer = DetectionScorer(SHAPE, NAMES)
    scorer.update(outputs([(0, 0.9, DOG), (0, 0.8, CAT)]), targets([(0, CAT, 0)]))
    assert scorer.compute()["map50"] == pytest.approx(0.5)


def test_a_difficult_box_is_neither_matched_nor_missed() -> None:
    missed = DetectionScorer(SHAPE, NAMES)
    missed.update(outputs([(0, 0.9, CAT)]), targets([(0, CAT, 0), (0, DOG, 1)]))
    assert missed.compute()["map50"] == pytest.approx(1.0)
    found = DetectionScorer(SHAPE, NAMES)
    found.update(outputs([(0, 0.7, DOG), (0, 0.9, CAT)]), targets([(0, CAT, 0), (0, DOG, 1)]))
    assert found.compute()["map50"] == pytest.approx(1.0)


def test_boxes_are_compared_in_input_pixels() -> None:
    # The target normalized by (W, H) = (100, 50); a detection at the transposed scale misses.
    scorer = DetectionScorer(SHAPE, NAMES)
    swapped = [CAT[0] / 2, CAT[1] * 2, CAT[2] / 2, CAT[3] * 2]
    scorer.update(outputs([(0, 0.9, swapped)]), targets([(0, CAT, 0)]))
    assert scorer.compute()["map50"] == pytest.approx(0.0)


def test_ranks_merge_to_the_same_figures() -> None:
    batches = [
        (outputs([(0, 0.9, CAT)]), targets([(0, CAT, 0), (1, DOG, 0)])),
        (outputs([(1, 0.6, DOG), (0, 0.5, DOG)]), targets([(1, DOG, 0)])),
        (outputs([]), targets([])),
    ]
    whole = DetectionScorer(SHAPE, NAMES)
    first, second = DetectionScorer(SHAPE, NAMES), DetectionScorer(SHAPE, NAMES)
    for index, (out, truth) in enumerate(batches):
        whole.update(out, truth)
        (first if index == 0 else second).update(out, truth)
    first.merge([pickle.loads(pickle.dumps(second.state()))])
    merged, expected = first.compute(), whole.compute()
    assert merged["map"] == pytest.approx(expected["map"])
    assert merged["per_class"]["dog"] == pytest.approx(expected["per_class"]["dog"])
    assert 0 < expected["map50"] < 1


def test_nothing_to_score_is_nan() -> None:
    scorer = DetectionScorer(SHAPE, NAMES)
    assert math.isnan(scorer.compute()["map"])
    scorer.update(outputs([(0, 0.9, CAT)]), targets([]))
    result = scorer.compute()
    assert math.isnan(result["map"]) and math.isnan(result["per_class"]["cat"])


def test_outputs_and_targets_must_agree() -> None:
    scorer = DetectionScorer(SHAPE, NAMES)
    with pytest.raises(ValueError, match="batch sizes differ"):
        scorer.update(outputs([], []), targets([]))
    with pytest.raises(ValueError, match="boxes, scores, labels"):
        scorer.update(outputs([])[:1], targets([]))
    with pytest.raises(ValueError, match=r"\(N, M, 6\)"):
        scorer.update(outputs([]), np.zeros((1, 6), np.float32))
