"""Shared steps of the built-in datasets: stratified splits, a training cap, normalization."""

from __future__ import annotations

import torch

from compressor.data import DataBundle, Preprocessing, Split, stratified_split_indices

#: Class names of the ten-digit datasets.
DIGIT_CLASSES = [str(d) for d in range(10)]


def stratified_splits(
    x: torch.Tensor,
    y: torch.Tensor,
    fractions: list[float],
    seed: int,
) -> list[Split]:
    """Cut ``(x, y)`` into splits that keep the class proportions of ``y``.

    Args:
        x: Inputs, (N, *input_shape).
        y: Labels, (N,), int64.
        fractions: One fraction per split; the last split takes the rounding remainder.
        seed: The split seed: the same seed gives the same split.

    Returns:
        One :class:`Split` per fraction, in order.
    """
    return [Split(x[idx], y[idx]) for idx in stratified_split_indices(y, fractions, seed)]


def cap(split: Split, limit: int | None) -> Split:
    """Keep the first ``limit`` samples of ``split`` (all of them when ``limit`` is ``None``).

    The stratified splits come out shuffled, so the first samples are a random subset.
    """
    if limit is None or limit >= len(split):
        return split
    return Split(split.x[:limit], split.y[:limit])


def normalized_bundle(
    name: str,
    train: Split,
    val: Split,
    test: Split,
    class_names: list[str],
    value_range: tuple[float, float] = (0.0, 1.0),
) -> DataBundle:
    """Normalize every split with the training split's per-channel mean and std.

    Only the training split's statistics are used, so nothing about the validation or test
    data leaks into the inputs the model sees.

    Args:
        name: The dataset's registered name.
        train: Training split, pixels in the 0..1 scale, shape (N, C, ...).
        val: Validation split, same scale.
        test: Test split, same scale.
        class_names: One name per class.
        value_range: The raw pixel values that were scaled to 0 and 1 (``(0, 255)`` for 8-bit
            images): the deployment preprocessing's first step.

    Returns:
        The bundle, with ``mean`` and ``std`` recorded in the 0..1 scale, and its deployment
        preprocessing (normalization alone).
    """
    dims = [d for d in range(train.x.dim()) if d != 1]
    mean = train.x.mean(dim=dims)
    # Population std (correction=0) so the normalized training data has std exactly 1.
    std = train.x.std(dim=dims, correction=0)
    # A constant channel would divide by zero; leaving it unscaled is harmless.
    std = torch.where(std > 1e-8, std, torch.ones_like(std))
    shape = (1, -1) + (1,) * (train.x.dim() - 2)
    m, s = mean.view(shape), std.view(shape)

    def scaled(split: Split) -> Split:
        return Split(((split.x - m) / s).contiguous(), split.y)

    means, stds = tuple(float(v) for v in mean), tuple(float(v) for v in std)
    return DataBundle(
        name=name,
        train=scaled(train),
        val=scaled(val),
        test=scaled(test),
        num_classes=len(class_names),
        input_shape=tuple(train.x.shape[1:]),
        mean=means,
        std=stds,
        class_names=list(class_names),
        preprocessing=Preprocessing(mean=means, std=stds, value_range=value_range),
    )
