"""From what a dataset plugin returned to the splits a run serves: the in-memory decision.

:func:`prepare_bundle` is called once per run, when the data is first loaded
(:func:`compressor.preflight.load_data`, :attr:`compressor.context.RunContext.data`). It wraps
splits given as map-style datasets into :class:`StreamedSplit` with the recipe's
``data.preprocess`` (computing ``mean``/``std: auto`` from a sample of the training split),
then holds every split in memory or streams it, as ``data.in_memory`` asks
(:mod:`compressor.data.memory` has the sizes and the budget), and records the choice in
:attr:`DataBundle.placement`.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import torch

from compressor.data.audio import AudioPreprocessing
from compressor.data.bundle import DataBundle
from compressor.data.memory import (
    Placement,
    decoded_bytes,
    default_budget,
    default_workers,
    materialize,
)
from compressor.data.preprocess import (
    Preprocessing,
    as_image,
    channel_stats,
    mean_std,
    value_range_of,
)
from compressor.data.split import DataSplit, Split
from compressor.data.streamed import StreamedSplit, sample_name
from compressor.data.workers import SampleError
from compressor.errors import RecipeError, one_line

SPLITS = ("train", "val", "test")
#: Training samples ``mean``/``std: auto`` are computed from (all of them when fewer): the
#: per-channel mean of 1,000 images is within about 0.003 of the whole set's (0..1 scale).
STATS_SAMPLES = 1000
#: Samples per batch of the statistics pass.
STATS_BATCH = 128


def _size(n: int) -> str:
    for unit, scale in (("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)):
        if n >= scale:
            return f"{n / scale:.1f} {unit}"
    return f"{n} B"


def _setting(config: Any, name: str, default: Any) -> Any:
    value = getattr(config, name, default) if config is not None else default
    return default if value is None else value


def _size_pair(value: Any) -> tuple[int, ...] | None:
    """``resize``/``center_crop`` as a tuple: one number stays one, a list stays a pair."""
    if value is None:
        return None
    return (int(value),) if isinstance(value, int) else tuple(int(v) for v in value)


def _base_preprocessing(spec: Any, dataset: Any) -> Preprocessing:
    """``data.preprocess`` without the normalization, for samples like ``dataset``'s first.

    Raises:
        SampleError: The first sample cannot be read.
    """
    try:
        item = dataset[0]
        value_range = value_range_of(as_image(item[0] if isinstance(item, (tuple, list)) else item))
    except Exception as error:
        raise SampleError(
            f"data: cannot read train {sample_name(dataset, 0)}: {one_line(error)}"
        ) from error
    crop = _size_pair(getattr(spec, "center_crop", None))
    return Preprocessing(
        resize=_size_pair(getattr(spec, "resize", None)),
        interpolation=getattr(spec, "interpolation", None) or "bilinear",
        center_crop=(crop[0], crop[-1]) if crop else None,
        value_range=value_range,
    )


def _stats(split: StreamedSplit) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """Per-channel mean and std of up to :data:`STATS_SAMPLES` evenly spaced training samples."""
    n = len(split)
    rows = torch.linspace(0, n - 1, min(n, STATS_SAMPLES)).round().long().unique()
    total = squares = None
    count = 0
    for _, x, _ in split.batches(STATS_BATCH, order=rows):
        s, q, c = channel_stats(x)
        total = s if total is None else total + s
        squares = q if squares is None else squares + q
        count += c
    assert total is not None and squares is not None
    return mean_std(total, squares, count)


def _normalization(
    bundle: DataBundle, spec: Any, base: StreamedSplit, decode: bool
) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """``data.preprocess.mean/std``: given, ``auto`` (computed), or the plugin's own."""
    mean, std = getattr(spec, "mean", None), getattr(spec, "std", None)
    if mean == "auto":
        return _stats(base) if decode else ((0.0,), (1.0,))
    if mean is not None and std is not None:
        return tuple(float(v) for v in mean), tuple(float(v) for v in std)
    return tuple(bundle.mean), tuple(bundle.std)


def _audio_steps(bundle: DataBundle, spec: Any) -> AudioPreprocessing:
    """The audio steps: the dataset's suggested ones, with what ``data.preprocess`` sets."""
    base = bundle.preprocessing
    steps = base if isinstance(base, AudioPreprocessing) else AudioPreprocessing()
    given = {k: getattr(spec, k, None) for k in ("sample_rate", "crop", "pad")}
    changes: dict[str, Any] = {k: v for k, v in given.items() if v is not None}
    seconds = getattr(spec, "clip_seconds", None)
    if seconds is not None:
        rate = changes.get("sample_rate", steps.sample_rate)
        changes["clip_samples"] = max(1, round(float(seconds) * rate))
    elif "sample_rate" in changes:  # the same duration at the new rate
        changes["clip_samples"] = max(1, round(steps.seconds * changes["sample_rate"]))
    return dataclasses.replace(steps, **changes)


def _streamed(
    bundle: DataBundle, spec: Any, workers: int, decode: bool, collate: Any
) -> DataBundle:
    """``bundle`` with its datasets of samples wrapped into preprocessed streamed splits."""
    raw = {name: getattr(bundle, name) for name in SPLITS}
    final: Any
    mean: tuple[float, ...]
    std: tuple[float, ...]
    train_labels = None
    if bundle.modality == "audio":
        # Nothing to normalize: a front-end inside the model normalizes its spectrogram.
        final, mean, std = _audio_steps(bundle, spec), (0.0,), (1.0,)
    else:
        base = _base_preprocessing(spec, raw["train"])
        probe = StreamedSplit(
            raw["train"], preprocessing=base, name="train", num_workers=workers, collate=collate
        )
        mean, std = _normalization(bundle, spec, probe, decode)
        train_labels = probe.labels
        probe.close()
        final = base.with_stats(mean, std)
    splits = {
        name: StreamedSplit(
            dataset,
            preprocessing=final,
            name=name,
            labels=train_labels if name == "train" else None,
            num_workers=workers,
            collate=collate,
            input_shape=getattr(final, "input_shape", None),
        )
        for name, dataset in raw.items()
    }
    return dataclasses.replace(
        bundle,
        train=splits["train"],
        val=splits["val"],
        test=splits["test"],
        input_shape=splits["train"].input_shape,
        mean=mean,
        std=std,
        preprocessing=final,
    )


def _decide(
    requested: Any, estimate: int, budget: int, workers: int, *, samples: bool
) -> Placement:
    """The placement ``data.in_memory`` asks for, given the decoded size and the budget."""
    said = {True: "true", False: "false"}.get(requested, str(requested))
    if requested is True or requested is False:
        return Placement(
            requested, said, estimate, budget, workers, f"data.in_memory: {said}, {_size(estimate)}"
        )
    if not samples:
        reason = f"the dataset gives tensors, {_size(estimate)}"
        return Placement(True, said, estimate, budget, workers, reason)
    fits = estimate <= budget
    relation = "within" if fits else "over"
    reason = f"{_size(estimate)} decoded, {relation} the {_size(budget)} data.memory_budget"
    return Placement(fits, said, estimate, budget, workers, reason)


def _check_modality(spec: Any, bundle: DataBundle) -> None:
    """``data.preprocess`` keys must be the data's modality's (images: resize, crop, mean;
    audio: sample_rate, clip_seconds, crop, pad)."""
    if spec is None or not hasattr(spec, "given"):
        return
    audio = bundle.modality == "audio"
    wrong = spec.given(spec.image_keys if audio else spec.AUDIO_KEYS)
    if wrong:
        kind, other = ("audio clips", "images") if audio else ("images", "audio clips")
        raise RecipeError(
            f"data.preprocess.{wrong[0]}",
            f"applies to {other}, and dataset {bundle.name!r} gives {kind}; valid keys: "
            + ", ".join(spec.AUDIO_KEYS if audio else spec.image_keys),
        )


def _check_spatial(spec: Any, task: Any) -> None:
    """A crop would cut the targets of a task whose targets say where things are."""
    if task is not None and task.spatial and getattr(spec, "center_crop", None) is not None:
        raise RecipeError(
            "data.preprocess.center_crop",
            f"a center crop would cut {task.name} targets out of the input; resize to "
            "[height, width] instead",
        )


def prepare_bundle(
    bundle: DataBundle, config: Any = None, *, decode: bool = True, task: Any = None
) -> DataBundle:
    """The bundle as the run serves it: streamed or in memory, as ``config`` asks.

    Args:
        bundle: What the dataset plugin returned: splits as tensors (``Split``) or as map-style
            datasets of ``(sample, label)``.
        config: The recipe's ``data`` section (``in_memory``, ``memory_budget``,
            ``num_workers``, ``preprocess``); ``None``: every default.
        decode: ``False`` decodes at most the first sample (``compressor validate``): no
            ``mean``/``std: auto`` pass, no copy into memory.
        task: The run's task (:class:`compressor.task.Task`): it collates the targets of
            datasets of samples; ``None``: one class index per sample.

    Returns:
        A new bundle whose splits are ``Split`` (in memory) or ``StreamedSplit``, with
        ``input_shape``, ``mean``, ``std``, ``preprocessing`` and ``placement`` filled.

    Raises:
        RecipeError: ``data.preprocess`` was given for a dataset that gives tensors, or a
            center crop for a task whose targets it would cut.
        SampleError: The first training sample cannot be read or preprocessed.
    """
    spec = _setting(config, "preprocess", None)
    _check_modality(spec, bundle)
    _check_spatial(spec, task)
    requested = _setting(config, "in_memory", "auto")
    workers = _setting(config, "num_workers", "auto")
    workers = default_workers() if workers == "auto" else int(workers)
    budget_setting = _setting(config, "memory_budget", "auto")
    budget = default_budget() if budget_setting == "auto" else int(budget_setting)
    given = [getattr(bundle, name) for name in SPLITS]
    raw = [not isinstance(split, (Split, StreamedSplit)) for split in given]
    if any(raw):
        if not all(raw):
            raise RecipeError(
                "data.dataset",
                f"dataset {bundle.name!r} gives some splits as datasets of samples and others "
                "as compressor.data splits; give all three the same way",
            )
        bundle = _streamed(bundle, spec, workers, decode, None if task is None else task.collate)
    elif spec is not None:
        raise RecipeError(
            "data.preprocess",
            f"dataset {bundle.name!r} gives preprocessed inputs; data.preprocess applies to "
            "datasets that give samples (images, arrays); remove it",
        )
    samples = not all(isinstance(split, Split) for split in given)
    estimate = sum(decoded_bytes(len(getattr(bundle, n)), bundle.input_shape) for n in SPLITS)
    placement = _decide(requested, estimate, budget, workers, samples=samples)
    splits: dict[str, DataSplit] = {}
    for name in SPLITS:
        split = getattr(bundle, name)
        if placement.in_memory and decode and isinstance(split, StreamedSplit):
            splits[name] = materialize(split)
            split.close()
        elif not placement.in_memory and isinstance(split, Split):
            splits[name] = StreamedSplit(
                split,
                name=name,
                labels=split.y,
                input_shape=split.input_shape,
                num_workers=workers,
            )
        else:
            splits[name] = split
    return dataclasses.replace(
        bundle, train=splits["train"], val=splits["val"], test=splits["test"], placement=placement
    )
