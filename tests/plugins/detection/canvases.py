"""Canvases of MNIST digits with their boxes: a detection dataset made by the tests.

The digits are the 5,000 real MNIST digits compressor ships (compressor_datasets); each canvas
holds a few of them, scaled, coloured and placed so that they barely overlap, on a dim noisy
background. Targets follow the detection task's form: ``(M, 6)`` rows ``[class, x1, y1, x2,
y2, difficult]`` with corners normalized to 0..1.
"""

from __future__ import annotations

import functools

import numpy as np
import torch
import torch.nn.functional as F
from compressor_datasets.shipped import read_shipped
from compressor_detection.task import DetectionTask

from compressor.data import DataBundle, Split

#: The tight box of a digit is where its (0..1) ink exceeds this.
INK = 0.3
MEAN, STD = 0.2, 0.3


@functools.lru_cache(maxsize=1)
def digits() -> tuple[torch.Tensor, np.ndarray]:
    """The shipped digits ``(5000, 1, 28, 28)`` in 0..1, and their classes."""
    pixels, labels = read_shipped("mnist_5k.csv.gz", 28 * 28)
    return torch.from_numpy(pixels).float().div(255).view(-1, 1, 28, 28), labels


def _overlap(box: np.ndarray, others: list[np.ndarray]) -> float:
    best = 0.0
    for other in others:
        w = min(box[2], other[2]) - max(box[0], other[0])
        h = min(box[3], other[3]) - max(box[1], other[1])
        if w > 0 and h > 0:
            inter = w * h
            area = (box[2] - box[0]) * (box[3] - box[1])
            area_o = (other[2] - other[0]) * (other[3] - other[1])
            best = max(best, inter / (area + area_o - inter))
    return best


def _place(
    canvas: torch.Tensor, digit: torch.Tensor, rng: np.random.Generator, placed: list[np.ndarray]
) -> np.ndarray | None:
    """Draw ``digit`` (1, s, s) somewhere on ``canvas`` barely overlapping ``placed``; its box."""
    size = canvas.shape[-1]
    side = digit.shape[-1]
    ys, xs = torch.nonzero(digit[0] > INK, as_tuple=True)
    if len(xs) == 0:
        return None
    for _ in range(10):
        left, top = (int(v) for v in rng.integers(0, size - side + 1, size=2))
        box = np.array(
            [
                left + int(xs.min()),
                top + int(ys.min()),
                left + int(xs.max()) + 1,
                top + int(ys.max()) + 1,
            ],
            dtype=np.float32,
        )
        if _overlap(box, placed) < 0.2:
            colour = torch.from_numpy(rng.uniform(0.5, 1.0, size=(3, 1, 1)).astype(np.float32))
            region = canvas[:, top : top + side, left : left + side]
            torch.maximum(region, digit * colour, out=region)
            return box
    return None


def make_canvases(
    count: int,
    *,
    size: int = 96,
    per_image: tuple[int, int] = (1, 3),
    digit_size: tuple[int, int] = (20, 40),
    seed: int = 0,
    empty_every: int = 0,
    digits_from: str = "all",
) -> tuple[torch.Tensor, list[np.ndarray]]:
    """``count`` canvases ``(count, 3, size, size)`` in 0..1 and their ``(M, 6)`` targets.

    Args:
        count: Canvases.
        size: Side in pixels.
        per_image: Fewest and most digits per canvas.
        digit_size: Smallest and largest side of a scaled digit, in pixels.
        seed: Seeds everything: the same seed gives the same canvases.
        empty_every: Every this many canvases has no digit (0: none).
        digits_from: ``all`` the shipped digits; ``train`` four in five, ``test`` the fifth:
            canvases for training and for scoring then share no digit (every fifth, since
            the shipped file is sorted by class).
    """
    images, classes = digits()
    if digits_from != "all":
        fifth = np.arange(len(classes)) % 5 == 0
        pool = fifth if digits_from == "test" else ~fifth
        images, classes = images[torch.from_numpy(pool)], classes[pool]
    rng = np.random.default_rng(seed)
    canvases = torch.from_numpy(
        rng.uniform(0, 0.15, size=(count, 3, size, size)).astype(np.float32)
    )
    targets = []
    for i in range(count):
        rows: list[list[float]] = []
        placed: list[np.ndarray] = []
        wanted = (
            0
            if empty_every and i % empty_every == 0
            else int(rng.integers(per_image[0], per_image[1] + 1))
        )
        for _ in range(wanted):
            pick = int(rng.integers(len(images)))
            side = int(rng.integers(digit_size[0], digit_size[1] + 1))
            digit = F.interpolate(images[pick : pick + 1], size=(side, side), mode="bilinear")[0]
            box = _place(canvases[i], digit, rng, placed)
            if box is not None:
                placed.append(box)
                rows.append([float(classes[pick]), *(box / size).tolist(), 0.0])
        targets.append(np.array(rows, dtype=np.float32).reshape(-1, 6))
    return canvases, targets


def canvas_bundle(train: int, val: int, test: int, *, size: int = 96, seed: int = 0) -> DataBundle:
    """A detection :class:`DataBundle` of canvases (normalized with :data:`MEAN`, :data:`STD`)."""
    task = DetectionTask()
    splits = []
    for offset, count in enumerate((train, val, test)):
        x, targets = make_canvases(count, size=size, seed=seed * 3 + offset)
        splits.append(Split((x - MEAN) / STD, task.collate(targets)))
    return DataBundle(
        name="canvases",
        train=splits[0],
        val=splits[1],
        test=splits[2],
        num_classes=10,
        input_shape=(3, size, size),
        mean=(MEAN,) * 3,
        std=(STD,) * 3,
        class_names=[str(d) for d in range(10)],
        task="detection",
    )
