"""Fast NMS and the deployed form, in PyTorch (hand-made cases)."""

from __future__ import annotations

import torch
import torchvision
from compressor_detection.postprocess import postprocess, suppressed, top_candidates


def scores_for(n: int, a: int, c: int, entries: dict[tuple[int, int, int], float]) -> torch.Tensor:
    scores = torch.zeros(n, a, c)
    for index, value in entries.items():
        scores[index] = value
    return scores


BOXES = torch.tensor(
    [
        [10.0, 10.0, 50.0, 50.0],
        [12.0, 12.0, 52.0, 52.0],  # IoU 0.82 with the first
        [60.0, 60.0, 90.0, 90.0],
        [11.0, 40.0, 51.0, 80.0],  # IoU 0.14 with the first, 0.17 with the second
    ]
)[None]


def test_an_overlapping_box_of_the_same_class_goes_and_of_another_class_stays() -> None:
    scores = scores_for(1, 4, 3, {(0, 0, 1): 0.9, (0, 1, 1): 0.8, (0, 1, 2): 0.7, (0, 3, 1): 0.6})
    boxes, kept_scores, labels = postprocess(BOXES, scores, max_detections=6, candidates=12)
    assert kept_scores[0].tolist()[:3] == [
        torch.tensor(0.9).item(),
        torch.tensor(0.7).item(),
        torch.tensor(0.6).item(),
    ]
    assert labels[0].tolist() == [1, 2, 1, -1, -1, -1]
    assert torch.equal(boxes[0, 1], BOXES[0, 1]) and torch.equal(boxes[0, 2], BOXES[0, 3])
    assert (boxes[0, 3:] == 0).all() and (kept_scores[0, 3:] == 0).all()


def test_low_scores_become_padding_and_rows_are_padded_past_the_candidates() -> None:
    scores = scores_for(2, 4, 2, {(0, 2, 0): 0.04, (0, 3, 1): 0.5})
    boxes, kept, labels = postprocess(
        BOXES.expand(2, -1, -1), scores, max_detections=10, candidates=5, score_threshold=0.05
    )
    assert boxes.shape == (2, 10, 4) and kept.shape == (2, 10) and labels.dtype == torch.int64
    assert labels[0].tolist() == [1] + [-1] * 9
    assert (labels[1] == -1).all() and (kept[1] == 0).all() and (boxes[1] == 0).all()


def test_a_suppressed_box_still_suppresses_unlike_greedy_nms() -> None:
    # A chain: a overlaps b, b overlaps c, a does not overlap c. Greedy NMS keeps a and c;
    # Fast NMS drops c too, because b (itself dropped) overlaps it.
    chain = torch.tensor([[0.0, 0, 10, 10], [3, 0, 13, 10], [6, 0, 16, 10]])[None]
    classes = torch.zeros(1, 3, dtype=torch.long)
    assert suppressed(chain, classes, 0.3).tolist() == [[False, True, True]]
    assert torchvision.ops.nms(chain[0], torch.tensor([0.9, 0.8, 0.7]), 0.3).tolist() == [0, 2]


def test_fast_nms_keeps_a_subset_of_what_greedy_nms_keeps() -> None:
    generator = torch.Generator().manual_seed(0)
    corner = torch.rand(1, 60, 2, generator=generator) * 80
    boxes = torch.cat([corner, corner + 5 + torch.rand(1, 60, 2, generator=generator) * 30], -1)
    scores = torch.rand(1, 60, 3, generator=generator)
    chosen, best, classes = top_candidates(boxes, scores, 100)
    fast = set((~suppressed(chosen, classes, 0.5))[0].nonzero().flatten().tolist())
    greedy = set(torchvision.ops.batched_nms(chosen[0], best[0], classes[0], 0.5).tolist())
    assert fast <= greedy and len(fast) > 10


def test_top_candidates_pair_each_score_with_its_anchor_and_class() -> None:
    scores = scores_for(1, 4, 3, {(0, 2, 1): 0.9, (0, 0, 2): 0.5})
    boxes, best, classes = top_candidates(BOXES, scores, 2)
    assert best.tolist() == [[torch.tensor(0.9).item(), 0.5]]
    assert classes.tolist() == [[1, 2]]
    assert torch.equal(boxes[0], BOXES[0, [2, 0]])
