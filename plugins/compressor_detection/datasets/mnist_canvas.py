"""``mnist_detection``: canvases of scattered MNIST digits, made in memory, offline.

Each canvas is a black square with a few real MNIST digits (the 5,000 that ship with
``compressor_datasets``) drawn at random sizes and places; a digit's box is the tight box of
its ink, its class the digit. The digits are split into train/val/test pools first (stratified,
seeded), and each split's canvases draw only from its own pool, so no validation or test canvas
shows a digit a training canvas showed. Everything is seeded by ``data.split_seed``: the same
options and seed give the same canvases.
"""

from __future__ import annotations

import functools
from typing import cast

import numpy as np
import torch
from compressor_datasets.shipped import read_shipped

from compressor.data import DataBundle, DataSplit, split_indices, stratified_split_indices
from compressor_detection.datasets.annotated import SPLITS
from compressor_detection.datasets.options import MnistDetectionOptions
from compressor_detection.datasets.samples import BoxTargets, Canvases

#: The shipped digits (compressor_datasets/data/): 784 pixel values then the label, per row.
SHIPPED_FILE = "mnist_5k.csv.gz"
CELL = 28
#: A pixel at or above this (0..255) is ink: the digit's box is the tight box of its ink.
INK = 64
#: Places tried for a digit before it is left off its canvas.
PLACEMENT_TRIES = 50
DIGIT_CLASSES = [str(d) for d in range(10)]


def load_mnist_detection(options: MnistDetectionOptions, seed: int) -> DataBundle:
    """Draw the canvases of every split.

    Args:
        options: The validated ``mnist_detection`` options.
        seed: ``data.split_seed``: the digits' split and every canvas's draws.

    Returns:
        The ``detection`` bundle of three :class:`~compressor_detection.datasets.samples.Canvases`
        (items: a PIL RGB canvas and its ``(M, 6)`` targets).
    """
    digits, labels = shipped_digits()
    fractions = [1.0 - options.val_fraction - options.test_fraction]
    fractions += [options.val_fraction, options.test_fraction]
    pools = stratified_split_indices(torch.tensor(labels), fractions, seed)
    counts = [len(part) for part in split_indices(options.images, fractions, seed)]
    splits = {}
    for number, (split, pool, count) in enumerate(zip(SPLITS, pools, counts, strict=True)):
        rng = np.random.default_rng([seed, number])
        rows = pool.numpy()
        canvases, targets = draw_canvases(digits[rows], labels[rows], count, options, rng)
        splits[split] = Canvases(canvases, targets, f"mnist_detection {split}")
    return DataBundle(
        name="mnist_detection",
        train=cast(DataSplit, splits["train"]),
        val=cast(DataSplit, splits["val"]),
        test=cast(DataSplit, splits["test"]),
        num_classes=10,
        class_names=list(DIGIT_CLASSES),
        details={
            "boxes": {s: len(d.targets.rows) for s, d in splits.items()},
            "digits": {s: len(p) for s, p in zip(SPLITS, pools, strict=True)},
        },
        task="detection",
        modality="image",
    )


@functools.lru_cache(maxsize=1)
def shipped_digits() -> tuple[np.ndarray, np.ndarray]:
    """The 5,000 shipped digits ``(N, 28, 28)`` uint8 and their labels, read once per process
    (read-only: every split and every load shares them)."""
    pixels, labels = read_shipped(SHIPPED_FILE, CELL * CELL)
    digits = pixels.reshape(-1, CELL, CELL)
    digits.flags.writeable = labels.flags.writeable = False
    return digits, labels


def draw_canvases(
    digits: np.ndarray,
    labels: np.ndarray,
    count: int,
    options: MnistDetectionOptions,
    rng: np.random.Generator,
) -> tuple[np.ndarray, BoxTargets]:
    """``count`` canvases of digits drawn from ``digits`` (``(P, 28, 28)`` uint8).

    Every digit's pick and size are drawn first, so that the digits of one size are scaled in
    one batch; only the placement, which depends on the digits already placed, runs per digit,
    in plain Python (numpy's per-call cost is larger than the work on two or three boxes).

    Returns:
        ``(N, size, size)`` uint8 grey canvases and their targets.
    """
    size, (low, high) = options.size, options.digits_per_image
    per_canvas = rng.integers(low, high + 1, size=count)
    picks = rng.integers(len(digits), size=int(per_canvas.sum()))
    sides = rng.integers(options.digit_size[0], options.digit_size[1] + 1, size=len(picks))
    patches, inks = _scaled_digits(digits, picks, sides)
    corners = Uniforms(rng)
    canvases = np.zeros((count, size, size), dtype=np.uint8)
    rows: list[tuple[float, ...]] = []
    offsets = np.zeros(count + 1, dtype=np.int64)
    slot = 0
    for number, wanted in enumerate(per_canvas.tolist()):
        placed: list[Box] = []
        for k in range(slot, slot + wanted):
            side, ink = int(sides[k]), tuple(inks[k].tolist())
            spot = _place(ink, size - side + 1, placed, options.max_overlap, corners)
            if spot is None or ink[2] <= ink[0]:
                continue
            x, y = spot
            region = canvases[number, y : y + side, x : x + side]
            np.maximum(region, patches[k], out=region)
            placed.append((ink[0] + x, ink[1] + y, ink[2] + x, ink[3] + y))
            box = placed[-1]
            rows.append(
                (labels[picks[k]], box[0] / size, box[1] / size, box[2] / size, box[3] / size, 0)
            )
        slot += wanted
        offsets[number + 1] = len(rows)
    if options.noise > 0:
        _add_noise(canvases, options.noise, rng)
    flat = np.asarray(rows, dtype=np.float32).reshape(-1, 6)
    return canvases, BoxTargets(flat, offsets)


Box = tuple[float, float, float, float]


class Uniforms:
    """Uniform draws in [0, 1) taken one at a time from seeded chunks (a numpy call per draw
    would cost more than the placement it serves)."""

    CHUNK = 65536

    def __init__(self, rng: np.random.Generator) -> None:
        self.rng = rng
        self.values: list[float] = []
        self.next = 0

    def draw(self) -> float:
        """The next draw."""
        if self.next == len(self.values):
            self.values, self.next = self.rng.random(self.CHUNK).tolist(), 0
        self.next += 1
        return self.values[self.next - 1]


def _scaled_digits(
    digits: np.ndarray, picks: np.ndarray, sides: np.ndarray
) -> tuple[list[np.ndarray], np.ndarray]:
    """Each picked digit scaled to its side (one batch per side) and the tight box
    ``[x1, y1, x2, y2]`` of its ink (continuous pixels; ``x2 <= x1``: no ink)."""
    patches: list[np.ndarray] = [np.zeros((0, 0), dtype=np.uint8)] * len(picks)
    inks = np.zeros((len(picks), 4), dtype=np.float64)
    for side in np.unique(sides).tolist():
        members = np.flatnonzero(sides == side)
        weights = resampling(CELL, side)
        scaled = weights @ digits[picks[members]].astype(np.float32) @ weights.T
        group = np.clip(np.rint(scaled), 0, 255).astype(np.uint8)
        ink = group >= INK
        cols, rows = ink.any(axis=1), ink.any(axis=2)
        inks[members, 0] = cols.argmax(axis=1)
        inks[members, 1] = rows.argmax(axis=1)
        inks[members, 2] = side - cols[:, ::-1].argmax(axis=1)
        inks[members, 3] = side - rows[:, ::-1].argmax(axis=1)
        inks[members[~cols.any(axis=1)]] = 0.0
        for member, patch in zip(members.tolist(), group, strict=True):
            patches[member] = patch
    return patches, inks


def resampling(size_in: int, size_out: int) -> np.ndarray:
    """The ``(size_out, size_in)`` matrix of a bilinear resize along one axis, antialiased as
    PIL's is (the triangle filter widens by the scale when shrinking).

    A batch of images resizes as ``R @ x @ R.T`` in numpy, which costs less here than torch's
    ``interpolate``: the cells are tiny, and torch's threads wait on a busy machine.
    """
    scale = size_in / size_out
    support = max(scale, 1.0)
    centers = (np.arange(size_out) + 0.5) * scale
    taps = np.arange(size_in) + 0.5
    weights = np.clip(1.0 - np.abs(taps[None, :] - centers[:, None]) / support, 0.0, None)
    return (weights / weights.sum(axis=1, keepdims=True)).astype(np.float32)


def _place(
    ink: Box, span: int, placed: list[Box], max_overlap: float, corners: Uniforms
) -> tuple[int, int] | None:
    """A top-left corner (each of ``0 .. span - 1``) where a digit's ``ink`` box overlaps no
    ``placed`` box by more than ``max_overlap`` IoU; ``None`` after :data:`PLACEMENT_TRIES`."""
    for _ in range(PLACEMENT_TRIES):
        x, y = int(corners.draw() * span), int(corners.draw() * span)
        box = (ink[0] + x, ink[1] + y, ink[2] + x, ink[3] + y)
        if all(iou(box, other) <= max_overlap for other in placed):
            return x, y
    return None


def iou(a: Box, b: Box) -> float:
    """Intersection over union of two ``(x1, y1, x2, y2)`` boxes."""
    width = min(a[2], b[2]) - max(a[0], b[0])
    height = min(a[3], b[3]) - max(a[1], b[1])
    if width <= 0 or height <= 0:
        return 0.0
    inter = width * height
    return inter / ((a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter)


#: Noise planes drawn per split; each canvas adds a random window of one of them.
NOISE_PLANES = 8


def _add_noise(canvases: np.ndarray, level: float, rng: np.random.Generator) -> None:
    """Add Gaussian noise of std ``level`` x 255 to every pixel, in place.

    Drawing a fresh normal per pixel costs more than making the canvases; each canvas instead
    adds a random ``size x size`` window of one of :data:`NOISE_PLANES` planes twice its side
    (a view, no copy): per pixel the noise is the same Gaussian.
    """
    count, size = canvases.shape[0], canvases.shape[1]
    planes = rng.standard_normal((NOISE_PLANES, 2 * size, 2 * size), dtype=np.float32)
    planes = np.round(planes * (level * 255.0)).astype(np.int16)
    choices: list[int] = np.asarray(rng.integers(NOISE_PLANES, size=count)).tolist()
    offsets: list[list[int]] = np.asarray(rng.integers(0, size + 1, size=(count, 2))).tolist()
    for number, (plane, (dy, dx)) in enumerate(zip(choices, offsets, strict=True)):
        window = planes[plane, dy : dy + size, dx : dx + size]
        canvases[number] = np.clip(canvases[number] + window, 0, 255)
