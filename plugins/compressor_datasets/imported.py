"""``import``: the datasets your own code returns, named as ``factory: package.module:callable``.

The factory is called with ``kwargs`` and returns one map-style ``Dataset`` of
``(sample, label)`` (cut into stratified train/val/test fractions, seeded by
``data.split_seed``), a dict of them keyed ``train``/``val``/``test`` (the missing ones are
fractions of ``train``), or a ``(train, val, test)`` tuple. Class names come from the options
or the training dataset's ``classes``; labels from its ``targets`` when it has them (else every
item is read once).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from compressor.data import DataBundle
from compressor.errors import RecipeError, one_line
from compressor.records import resolve_factory
from compressor_datasets import ImportOptions
from compressor_datasets.samples import Labeled, raw_bundle, stratified_parts

FIELD = "data.options.factory"
#: What a factory must return, said in every error about what it returned.
CONTRACT = (
    "a map-style torch.utils.data.Dataset of (sample, label) (with __len__ and __getitem__), "
    "a dict of them keyed train/val/test, or a (train, val, test) tuple"
)


def load_imported(options: ImportOptions, seed: int) -> DataBundle:
    """Call the factory and make train/val/test datasets of what it returned.

    Args:
        options: The validated ``import`` options.
        seed: The split seed (``data.split_seed``), for splits the factory did not give.

    Returns:
        The bundle of three datasets of ``(sample, label)``.

    Raises:
        RecipeError: The factory cannot be imported, raised, or returned something else than
            :data:`CONTRACT`; or the class count cannot be told.
    """
    try:
        factory = resolve_factory(options.factory)
    except Exception as error:  # whatever the user's module raises on import
        raise RecipeError(
            FIELD, f"cannot import {options.factory!r}: {one_line(error)}", value=options.factory
        ) from error
    try:
        returned = factory(**options.kwargs)
    except Exception as error:  # the user's code: say whose call failed, in one line
        raise RecipeError(
            FIELD, f"{options.factory} raised {one_line(error)}", value=options.factory
        ) from error
    given = _as_splits(returned, options.factory)
    train = Labeled(given["train"], getattr(given["train"], "targets", None))
    splits: dict[str, Any] = {"train": train}
    for name in ("val", "test"):
        if given.get(name) is not None:
            splits[name] = Labeled(given[name], getattr(given[name], "targets", None))
    missing = [name for name in ("val", "test") if name not in splits]
    if missing:
        fractions = [options.val_fraction if n == "val" else options.test_fraction for n in missing]
        parts = stratified_parts(train, [1.0 - sum(fractions), *fractions], seed)
        splits.update(zip(["train", *missing], parts, strict=True))
    names = _class_names(options, given["train"], train)
    return raw_bundle("import", splits, names)


def _is_dataset(value: Any) -> bool:
    """Whether ``value`` is map-style: ``__len__`` and ``__getitem__``, and no container of
    values or a bare array (whose items would not be ``(sample, label)`` pairs)."""
    import torch

    containers = (str, bytes, Mapping, tuple, list, np.ndarray, torch.Tensor)
    return (
        hasattr(value, "__getitem__")
        and hasattr(value, "__len__")
        and not isinstance(value, containers)
    )


def _as_splits(returned: Any, factory: str) -> dict[str, Any]:
    """What the factory returned as ``{"train": ..., "val": ..., "test": ...}``.

    Raises:
        RecipeError: It is not :data:`CONTRACT`; the message names the type it got.
    """
    if _is_dataset(returned):
        return {"train": returned}
    if isinstance(returned, Mapping):
        unknown = sorted(set(map(str, returned)) - {"train", "val", "test"})
        if unknown or "train" not in returned:
            what = f"keys {', '.join(unknown)}" if unknown else "no 'train' key"
            raise RecipeError(
                FIELD,
                f"{factory} returned a dict with {what}; it must return {CONTRACT}",
                value=factory,
            )
        splits = dict(returned)
    elif isinstance(returned, (tuple, list)) and len(returned) == 3:
        splits = dict(zip(("train", "val", "test"), returned, strict=True))
    else:
        got = type(returned).__name__
        if isinstance(returned, (tuple, list)):
            got = f"a {got} of {len(returned)} items"
        raise RecipeError(
            FIELD, f"{factory} returned {got}; it must return {CONTRACT}", value=factory
        )
    for name, value in splits.items():
        if value is not None and not _is_dataset(value):
            raise RecipeError(
                FIELD,
                f"{factory} returned {type(value).__name__} as its {name} split; it must "
                f"return {CONTRACT}",
                value=factory,
            )
    return splits


def _class_names(options: ImportOptions, dataset: Any, train: Labeled) -> list[str]:
    """The class names: the options', the dataset's ``classes``, or ``0 .. largest label``."""
    if options.class_names is not None:
        return list(options.class_names)
    classes = getattr(dataset, "classes", None)
    if classes is not None and options.num_classes in (None, len(classes)):
        return [str(c) for c in classes]
    count = options.num_classes or int(train.targets.max()) + 1
    if count < 2:
        raise RecipeError(
            "data.options.num_classes",
            f"the labels of {options.factory} go up to {count - 1}; a classifier needs at "
            "least two classes: set num_classes",
        )
    return [str(i) for i in range(count)]
