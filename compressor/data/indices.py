"""Fixed train/validation/test splits: which rows go where, the same for the same seed."""

from __future__ import annotations

from collections.abc import Sequence

import torch


def split_indices(n: int, fractions: Sequence[float], seed: int) -> list[torch.Tensor]:
    """Shuffle ``range(n)`` with ``seed`` and cut it into parts of the given fractions.

    The last part takes the remainder, so ``split_indices(n, [0.7, 0.15, 0.15], 0)`` covers
    every index exactly once. The same ``n`` and ``seed`` always give the same split.
    """
    generator = torch.Generator().manual_seed(seed)
    order = torch.randperm(n, generator=generator)
    parts: list[torch.Tensor] = []
    start = 0
    for i, fraction in enumerate(fractions):
        end = n if i == len(fractions) - 1 else start + round(n * fraction)
        parts.append(order[start:end])
        start = end
    return parts


def stratified_split_indices(
    labels: torch.Tensor, fractions: Sequence[float], seed: int
) -> list[torch.Tensor]:
    """Like :func:`split_indices`, but each part keeps the class proportions of ``labels``."""
    parts: list[list[torch.Tensor]] = [[] for _ in fractions]
    for cls in torch.unique(labels).tolist():
        members = torch.nonzero(labels == cls).flatten()
        for i, chunk in enumerate(split_indices(len(members), fractions, seed + int(cls))):
            parts[i].append(members[chunk])
    generator = torch.Generator().manual_seed(seed)
    merged = [torch.cat(p) for p in parts]
    return [m[torch.randperm(len(m), generator=generator)] for m in merged]
