"""``digits``: the 1,797 handwritten 8x8 UCI digits, shipped in this package (see data/README.md)."""

from __future__ import annotations

import torch

from compressor.data import DataBundle
from compressor_datasets import DigitsOptions
from compressor_datasets.shipped import read_shipped
from compressor_datasets.splits import DIGIT_CLASSES, normalized_bundle, stratified_splits

#: The digits' pixels are counts of set bits in 4x4 blocks, so they range over 0..16.
MAX_PIXEL = 16.0


def load_digits(options: DigitsOptions, seed: int) -> DataBundle:
    """Load the digits as a stratified train/val/test bundle.

    Args:
        options: The validated ``digits`` options.
        seed: The split seed: the same seed gives the exact same split.

    Returns:
        Inputs (N, 1, 8, 8) float32 normalized with the training split's mean and std, labels
        int64.
    """
    pixels, labels = read_shipped("digits.csv.gz", 8 * 8)
    x = torch.from_numpy(pixels).float().div_(MAX_PIXEL).view(-1, 1, 8, 8)
    y = torch.from_numpy(labels)
    val, test = options.val_fraction, options.test_fraction
    train_split, val_split, test_split = stratified_splits(
        x, y, [1.0 - val - test, val, test], seed
    )
    return normalized_bundle(
        "digits", train_split, val_split, test_split, DIGIT_CLASSES, (0.0, MAX_PIXEL)
    )
