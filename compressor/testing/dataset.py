"""The dataset contract check: :func:`check_dataset`.

A dataset plugin's factory is called as a recipe calls it, ``factory(options, seed=...)``
(``seed`` is the recipe's ``data.split_seed``), and must return a
:class:`~compressor.data.DataBundle`. :func:`check_dataset` builds it twice with the same seed
and checks what every stage relies on: three non-empty splits of float32 inputs shaped
``input_shape`` and targets the dataset's task accepts (int64 labels below ``num_classes`` for
classification), class names and normalization that describe the data, and the same split for
the same seed. Splits given as datasets of samples
are checked as a run serves them: streamed with ``data.preprocess``, on their first
:data:`STREAMED_SAMPLES` samples.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from types import SimpleNamespace
from typing import Any

import torch
from pydantic import BaseModel

from compressor.data import DataBundle, DataSplit, SampleError, Split, head, prepare_bundle
from compressor.records import DatasetPlugin, PluginRecord
from compressor.testing.building import find_record, parse_options

#: How far ``x * std + mean`` may stray outside 0..1 before the declared normalization is wrong.
PIXEL_SLACK = 1e-3
#: Samples of each streamed split that are decoded and checked (all of an in-memory split are).
STREAMED_SAMPLES = 16


def check_dataset(
    dataset: Any,
    options: Mapping[str, Any] | BaseModel | None = None,
    *,
    seed: int = 0,
    preprocess: Mapping[str, Any] | None = None,
) -> DataBundle:
    """Build a dataset as a recipe would and check the ``DataBundle`` contract.

    The bundle must have a non-empty ``name`` and ``train``, ``val`` and ``test`` splits, none
    empty: all three :class:`~compressor.data.Split` objects, or all three map-style datasets
    of ``(sample, label)`` (checked as a run streams them with ``preprocess``, on their first
    :data:`STREAMED_SAMPLES` samples); inputs float32, finite, shaped ``(N, *input_shape)``;
    labels int64 of shape ``(N,)`` in ``0 .. num_classes - 1``;
    ``class_names`` empty or one per class; ``mean`` and ``std`` of equal length, one value or
    one per channel (``input_shape[0]``), ``std`` positive. When the bundle declares a
    normalization other than ``mean=(0,)``, ``std=(1,)``, undoing it (``x * std + mean``) must
    give pixels in the 0..1 scale, which is what the ``onnx`` exporter's
    ``embed_preprocessing`` assumes. Built again with the same ``seed``, it must give the
    same splits; another seed may give others.

    Args:
        dataset: A registered name, a :class:`~compressor.records.DatasetPlugin`, or a factory
            called as ``factory(options, seed=seed)``.
        options: The dataset options (validated by the record's schema).
        seed: The split seed.
        preprocess: The recipe's ``data.preprocess`` for datasets of samples (e.g.
            ``{"resize": [32, 32], "mean": "auto", "std": "auto"}``).

    Returns:
        The bundle, for further assertions.

    Raises:
        AssertionError: A part of the contract does not hold; the message says which.
    """
    record = find_record("dataset", dataset, DatasetPlugin)
    label = f"dataset {record.name!r}" if record else f"dataset {dataset!r}"
    parsed = parse_options(record, options)
    task = _task(getattr(record, "task", "classification"))
    bundle = _build(record, dataset, parsed, seed, label, preprocess, task)
    _check_description(bundle, label)
    for name in ("train", "val", "test"):
        _check_split(bundle, name, label, task)
    _check_normalization(bundle, label)
    again = _build(record, dataset, parsed, seed, label, preprocess, task)
    for name in ("train", "val", "test"):
        first, second = bundle.split(name), again.split(name)
        assert torch.equal(_inputs(first), _inputs(second)) and torch.equal(
            first.labels, second.labels
        ), (
            f"{label}: built twice with seed {seed}, the {name} split differs; the split must "
            "depend on the seed alone (seed every random generator with it)"
        )
    return bundle


def _task(name: str) -> Any:
    """The registered task ``name``: the one the dataset declares."""
    from compressor.plugin.registry import Registry

    return Registry.load().get("task", name).build(None)


def _inputs(split: DataSplit) -> torch.Tensor:
    """The inputs checked: all of an in-memory split, the first samples of a streamed one."""
    return split.x if isinstance(split, Split) else head(split, STREAMED_SAMPLES)


def _build(
    record: PluginRecord | None,
    target: Any,
    options: Any,
    seed: int,
    label: str,
    preprocess: Mapping[str, Any] | None,
    task: Any,
) -> DataBundle:
    """The bundle the factory returns, called as a recipe calls it, as a run serves it (its
    targets collated by ``task``)."""
    factory = record.build if record is not None else target
    assert callable(factory), f"cannot check {target!r}: give a name, a record or a factory"
    try:
        bundle = factory(options, seed=seed)
    except Exception as exc:
        raise AssertionError(f"{label} failed to build: {type(exc).__name__}: {exc}") from exc
    assert isinstance(bundle, DataBundle), (
        f"{label}: the factory must return a compressor.data.DataBundle, got "
        f"{type(bundle).__name__}"
    )
    if all(isinstance(bundle.split(name), Split) for name in ("train", "val", "test")):
        return bundle
    from compressor.recipe import PreprocessConfig

    spec = PreprocessConfig.model_validate(preprocess) if preprocess is not None else None
    settings = SimpleNamespace(in_memory=False, num_workers=0, preprocess=spec)
    try:
        return prepare_bundle(bundle, settings, task=task)
    except Exception as exc:
        raise AssertionError(f"{label}: its samples cannot be served: {exc}") from exc


def _check_description(bundle: DataBundle, label: str) -> None:
    """Name, class count, input shape and class names."""
    assert isinstance(bundle.name, str) and bundle.name, (
        f"{label}: DataBundle.name must be the dataset's name, got {bundle.name!r}"
    )
    assert isinstance(bundle.num_classes, int) and bundle.num_classes >= 2, (
        f"{label}: num_classes must be an int of at least 2, got {bundle.num_classes!r}"
    )
    shape = bundle.input_shape
    assert (
        isinstance(shape, tuple) and shape and all(isinstance(d, int) and d > 0 for d in shape)
    ), f"{label}: input_shape must be a tuple of positive ints such as (1, 28, 28), got {shape!r}"
    names = bundle.class_names
    assert len(names) in (0, bundle.num_classes), (
        f"{label}: {len(names)} class_names for {bundle.num_classes} classes; give one name per "
        "class (exported files carry them), or none"
    )


def _check_split(bundle: DataBundle, name: str, label: str, task: Any) -> None:
    """One split: its type, size, dtypes, shapes, and its targets: class indices below
    ``num_classes`` for classification, what the dataset's task accepts otherwise."""
    split = bundle.split(name)
    where = f"{label}: the {name} split"
    assert len(split) > 0, f"{where} is empty"
    try:
        x, y = _inputs(split), split.labels
    except SampleError as error:
        raise AssertionError(f"{where}: {error}") from error
    assert x.dtype == torch.float32, f"{where}: x must be float32, got {x.dtype}"
    assert tuple(x.shape[1:]) == bundle.input_shape, (
        f"{where}: x has shape {tuple(x.shape)}, expected (N, *input_shape) = "
        f"(N, {', '.join(map(str, bundle.input_shape))})"
    )
    assert bool(torch.isfinite(x).all()), f"{where}: x holds NaN or infinite values"
    assert len(y) == len(split), f"{where}: {len(y)} targets for {len(split)} samples"
    if task.name != "classification":
        problem = task.check_data(bundle)
        assert problem is None, f"{label}: task {task.name!r} refuses its targets: {problem}"
        return
    assert y.dtype == torch.int64 and y.dim() == 1, (
        f"{where}: y must be int64 of shape (N,), got {y.dtype} of shape {tuple(y.shape)}"
    )
    low, high = int(y.min()), int(y.max())
    assert 0 <= low and high < bundle.num_classes, (
        f"{where}: labels range over {low}..{high}, outside 0..{bundle.num_classes - 1} "
        f"(num_classes={bundle.num_classes})"
    )


def _check_normalization(bundle: DataBundle, label: str) -> None:
    """``mean`` and ``std``: their lengths, and that they undo to 0..1 pixels when declared."""
    mean, std = tuple(bundle.mean), tuple(bundle.std)
    channels = bundle.input_shape[0]
    assert len(mean) == len(std) and len(mean) in {1, channels}, (
        f"{label}: mean has {len(mean)} and std {len(std)} values; give one value, or one per "
        f"channel ({channels})"
    )
    assert all(s > 0 and math.isfinite(s) for s in std), f"{label}: std must be positive: {std}"
    if mean == (0.0,) * len(mean) and std == (1.0,) * len(std):
        return  # the bundle declares no normalization: nothing to undo
    shape = (1, len(mean)) + (1,) * (len(bundle.input_shape) - 1)
    m, s = torch.tensor(mean).view(shape), torch.tensor(std).view(shape)
    for name in ("train", "val", "test"):
        pixels = _inputs(bundle.split(name)) * s + m
        low, high = float(pixels.min()), float(pixels.max())
        assert -PIXEL_SLACK <= low and high <= 1 + PIXEL_SLACK, (
            f"{label}: the {name} split's x * std + mean ranges over {low:.3g}..{high:.3g}, not "
            "0..1; mean and std are the normalization applied to pixels in the 0..1 scale"
        )
