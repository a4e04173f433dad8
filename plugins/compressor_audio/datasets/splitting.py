"""Which files go to train, validation and test: stratified, or by whole groups (speakers).

With a group (a speaker, a recording session), a split keeps every group whole: a speaker's
clips are all in training or none are, so the test figure is on voices the model never heard.
Without one, each class keeps its proportions in every part. Both are seeded by
``data.split_seed``.
"""

from __future__ import annotations

import numpy as np
import torch

from compressor.data import stratified_split_indices
from compressor.errors import RecipeError

#: The parts cut from the training files, in the order they are cut.
CUT_ORDER = ("test", "val")


def group_parts(
    groups: np.ndarray, fractions: dict[str, float], seed: int
) -> dict[str, np.ndarray]:
    """Rows of ``groups`` (one group id per sample) cut into whole groups.

    Groups are shuffled with ``seed``; each part in :data:`CUT_ORDER` takes the next groups
    until it holds at least its fraction of the samples (at least one group); training keeps
    the rest.

    Returns:
        ``train`` and each part of ``fractions``: row indices into ``groups``.

    Raises:
        RecipeError: No group is left for training.
    """
    unique = np.unique(groups)
    order = unique[np.random.default_rng(seed).permutation(len(unique))]
    sizes = {g: int((groups == g).sum()) for g in order}
    parts: dict[str, list[object]] = {}
    position = 0
    for name in (n for n in CUT_ORDER if n in fractions):
        wanted, taken = fractions[name] * len(groups), 0
        parts[name] = []
        while position < len(order) and (not parts[name] or taken < wanted):
            parts[name].append(order[position])
            taken += sizes[order[position]]
            position += 1
    parts["train"] = list(order[position:])
    if not parts["train"] or any(not members for members in parts.values()):
        raise RecipeError(
            "data.options.group_by",
            f"{len(unique)} groups cannot fill train, {' and '.join(fractions)} with whole "
            "groups; lower the fractions, or give val_root/test_root",
        )
    return {
        name: np.flatnonzero(np.isin(groups, np.array(members))) for name, members in parts.items()
    }


def stratified_parts(
    labels: np.ndarray, fractions: dict[str, float], seed: int
) -> dict[str, np.ndarray]:
    """Rows of ``labels`` cut into ``train`` and the parts of ``fractions``, each class in
    proportion (:func:`compressor.data.stratified_split_indices`).

    Raises:
        RecipeError: A part would be empty.
    """
    names = [n for n in CUT_ORDER if n in fractions]
    shares = [1.0 - sum(fractions.values()), *(fractions[n] for n in names)]
    cut = stratified_split_indices(torch.from_numpy(labels), shares, seed)
    parts = {name: part.numpy() for name, part in zip(["train", *names], cut, strict=True)}
    for name, rows in parts.items():
        if len(rows) == 0:
            raise RecipeError(
                f"data.options.{name}_fraction" if name != "train" else "data.options.train_root",
                f"leaves the {name} split empty ({len(labels)} clips to split); raise it, or "
                f"give data.options.{name}_root",
            )
    return parts


def cut(
    labels: np.ndarray,
    groups: np.ndarray | None,
    fractions: dict[str, float],
    seed: int,
) -> dict[str, np.ndarray]:
    """``train`` and the parts of ``fractions``: by whole groups when ``groups`` is given,
    else stratified by class."""
    if not fractions:
        return {"train": np.arange(len(labels))}
    if groups is not None:
        return group_parts(groups, fractions, seed)
    return stratified_parts(labels, fractions, seed)


def held_out_groups(
    groups: np.ndarray, names: list[str], chosen: list[str], field: str
) -> np.ndarray:
    """The rows whose group is one of ``chosen`` (group names; ``names[groups[i]]`` is row
    ``i``'s).

    Raises:
        RecipeError: A chosen group does not occur (the message lists those that do), or
            every row would be held out.
    """
    known = set(names)
    for group in chosen:
        if group not in known:
            raise RecipeError(field, f"no clips of group {group!r}", value=group, choices=names)
    codes = [names.index(g) for g in chosen]
    rows = np.flatnonzero(np.isin(groups, codes))
    if len(rows) == len(groups):
        raise RecipeError(
            field, f"holds out every group ({', '.join(chosen)}): none left to train on"
        )
    return rows
