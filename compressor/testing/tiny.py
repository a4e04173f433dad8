"""Tiny models and data: what the contract checks run a plugin on, small enough for a second.

Owns :func:`tiny_cnn`, :func:`tiny_mlp`, :func:`tiny_data_bundle` and the shape they share
(:data:`TINY_INPUT_SHAPE`, :data:`TINY_CLASSES`), plus the package-internal helpers the checks
build on: :func:`seeded`, :func:`default_inputs` and :func:`find_classifier`.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from contextlib import contextmanager

import torch
from torch import nn

from compressor.data import DataBundle, Split

#: Input shape of the tiny models and the random bundle: the shape of the shipped digits.
TINY_INPUT_SHAPE: tuple[int, ...] = (1, 8, 8)
#: Classes of the random bundle.
TINY_CLASSES = 4


def tiny_cnn(
    input_shape: tuple[int, ...] = TINY_INPUT_SHAPE,
    num_classes: int = TINY_CLASSES,
    *,
    seed: int = 0,
) -> nn.Module:
    """A two-conv network with batch norm: small, but every layer kind a pruner meets.

    Args:
        input_shape: ``(C, H, W)`` of one input.
        num_classes: Number of output logits.
        seed: Seeds the weights, so two calls give the same model.

    Returns:
        An ``nn.Sequential`` in eval mode; its last module is the classifier ``Linear``.
    """
    with seeded(seed):
        model = nn.Sequential(
            nn.Conv2d(input_shape[0], 8, 3, padding=1, bias=False),
            nn.BatchNorm2d(8),
            nn.ReLU(),
            nn.Conv2d(8, 16, 3, padding=1),
            nn.ReLU(),
            nn.AdaptiveAvgPool2d(1),
            nn.Flatten(),
            nn.Linear(16, num_classes),
        )
    return model.eval()


def tiny_mlp(
    input_shape: tuple[int, ...] = TINY_INPUT_SHAPE,
    num_classes: int = TINY_CLASSES,
    *,
    seed: int = 0,
) -> nn.Module:
    """A two-hidden-layer perceptron over the flattened input.

    Args:
        input_shape: Shape of one input; it is flattened.
        num_classes: Number of output logits.
        seed: Seeds the weights.

    Returns:
        An ``nn.Sequential`` in eval mode; its last module is the classifier ``Linear``.
    """
    with seeded(seed):
        model = nn.Sequential(
            nn.Flatten(),
            nn.Linear(math.prod(input_shape), 32),
            nn.ReLU(),
            nn.Linear(32, 16),
            nn.ReLU(),
            nn.Linear(16, num_classes),
        )
    return model.eval()


def tiny_data_bundle(
    source: str = "random",
    *,
    num_classes: int = TINY_CLASSES,
    input_shape: tuple[int, ...] = TINY_INPUT_SHAPE,
    sizes: tuple[int, int, int] = (64, 32, 32),
    seed: int = 0,
) -> DataBundle:
    """A dataset small enough for a contract check.

    Args:
        source: ``"random"``: class-dependent Gaussian inputs (learnable, instant);
            ``"digits"``: the shipped handwritten digits (real, 1,797 images, about a second).
        num_classes: Classes of the random bundle.
        input_shape: Input shape of the random bundle.
        sizes: Train, validation and test sizes of the random bundle.
        seed: Seeds the random bundle.

    Returns:
        A :class:`~compressor.data.DataBundle` with class names.

    Raises:
        ValueError: ``source`` is neither ``"random"`` nor ``"digits"``.
    """
    if source == "digits":
        from compressor.plugin.registry import Registry

        record = Registry.load().get("dataset", "digits")
        return record.build(record.options.model_validate({}), seed=seed)
    if source != "random":
        raise ValueError(f"unknown tiny data source {source!r}; valid choices: digits, random")
    generator = torch.Generator().manual_seed(seed)
    # One fixed pattern per class plus noise: a model can learn it, so training stages improve.
    patterns = torch.randn(num_classes, *input_shape, generator=generator)

    def split(n: int) -> Split:
        y = torch.randint(0, num_classes, (n,), generator=generator)
        x = patterns[y] + 0.5 * torch.randn(n, *input_shape, generator=generator)
        return Split(x=x, y=y)

    train, val, test = (split(n) for n in sizes)
    return DataBundle(
        name="tiny_random",
        train=train,
        val=val,
        test=test,
        num_classes=num_classes,
        input_shape=tuple(input_shape),
        class_names=[f"class_{i}" for i in range(num_classes)],
    )


def default_inputs() -> torch.Tensor:
    """The batch a check feeds a model when the caller gives none: 8 random digit-shaped inputs."""
    return torch.randn(8, *TINY_INPUT_SHAPE, generator=torch.Generator().manual_seed(0))


@contextmanager
def seeded(seed: int) -> Iterator[None]:
    """Seed torch for the block, restoring the global random state after it."""
    # Fork the RNG so a check never shifts the random stream of the test that calls it.
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        yield


def find_classifier(model: nn.Module) -> nn.Module | None:
    """The last Linear of ``model``: the layer whose outputs are the classes."""
    found = None
    for module in model.modules():
        if isinstance(module, nn.Linear):
            found = module
    return found
