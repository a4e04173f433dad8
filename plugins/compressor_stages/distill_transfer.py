"""The distill stage's unlabelled transfer data, and where its teacher outputs are kept.

``transfer: {dataset, options, split, skip, limit}`` names rows of any registered dataset; the
student learns from the teacher's outputs on them alone (docs/data.md, "Transfer data"). They
are served like the recipe's data: a dataset that gives tensors is re-normalized with the
recipe data's statistics (its own may differ), one that gives samples is preprocessed with the
recipe's resolved ``data.preprocess``; in memory when the recipe's data is, streamed otherwise.
"""

from __future__ import annotations

from typing import Any, cast

import torch
from torch.utils.data import ConcatDataset, Dataset, Subset

from compressor.context import StageContext, StageInfo
from compressor.data import DataBundle, DataSplit, Split, StreamedSplit, materialize
from compressor.data.memory import default_workers
from compressor.errors import RecipeError
from compressor.preflight import Preflight
from compressor.recipe.messages import validate
from compressor.recipe.resolve import registered
from compressor.training.teacher_store import OutputStore


def check_transfer(info: StageInfo, checker: Preflight) -> None:
    """Before anything trains: the dataset exists, its options are valid, and a loss term
    reads the teacher (transfer batches score nothing else).

    Raises:
        RecipeError: Naming ``stages.<name>.transfer`` (or the field inside it).
    """
    spec = info.options.transfer
    if spec is None:
        return
    field = f"stages.{info.name}.transfer"
    record = registered(checker.registry, "dataset", spec.dataset, f"{field}.dataset")
    spec._parsed = validate(record.options, spec.options, f"{field}.options")
    if not any(
        checker.registry.get("loss", term.name).needs_teacher for term in info.options.losses
    ):
        raise RecipeError(
            field,
            "transfer data has no labels, so it needs a loss term that reads the teacher "
            f"(e.g. kd); stages.{info.name}.losses has none",
        )


def _renormalized(split: Split, source: DataBundle, target: DataBundle) -> Split:
    """``split`` (normalized with ``source``'s statistics) normalized with ``target``'s."""
    if (tuple(source.mean), tuple(source.std)) == (tuple(target.mean), tuple(target.std)):
        return split
    shape = (1, -1) + (1,) * (split.x.dim() - 2)

    def stats(values: tuple[float, ...]) -> torch.Tensor:
        return torch.tensor(values, dtype=split.x.dtype).view(shape)

    raw = split.x * stats(source.std) + stats(source.mean)
    return Split(((raw - stats(target.mean)) / stats(target.std)).contiguous(), split.y)


def _selected(n: int, skip: int, limit: int | None, field: str) -> torch.Tensor:
    """Rows ``skip`` to ``skip + limit`` of ``n``."""
    if skip >= n:
        raise RecipeError(
            f"{field}.skip", f"skip is {skip}, but the split has only {n} rows", value=skip
        )
    end = n if limit is None else min(n, skip + limit)
    return torch.arange(skip, end)


def _whole(bundle: DataBundle) -> Any:
    """``split: all``: the bundle's train, val and test rows as one split, in that order."""
    parts = [bundle.train, bundle.val, bundle.test]
    if all(isinstance(part, Split) for part in parts):
        held = cast("list[Split]", parts)
        return Split(torch.cat([p.x for p in held]), torch.cat([p.y for p in held]))
    return ConcatDataset(cast("list[Dataset[Any]]", parts))


def transfer_split(ctx: StageContext, spec: Any) -> DataSplit:
    """The rows of ``spec`` as a split served like the recipe's data (labels ignored).

    Raises:
        RecipeError: Unknown dataset, bad options, ``skip`` past the end, or inputs of another
            shape than the recipe's data, naming ``stages.<name>.transfer``.
    """
    field = f"stages.{ctx.info.name}.transfer"
    record = registered(ctx.run.registry, "dataset", spec.dataset, f"{field}.dataset")
    parsed = spec._parsed or validate(record.options, spec.options, f"{field}.options")
    bundle: DataBundle = record.build(parsed, seed=ctx.run.recipe.data.split_seed)
    given = _whole(bundle) if spec.split == "all" else bundle.split(spec.split)
    rows = _selected(len(given), spec.skip, spec.limit, field)
    main = ctx.data
    in_memory = main.placement is None or main.placement.in_memory
    workers = ctx.run.recipe.data.num_workers
    workers = default_workers() if workers == "auto" else int(workers)
    split: DataSplit
    if isinstance(given, Split):
        split = _renormalized(Split(given.x[rows], given.y[rows]), bundle, main)
        if not in_memory:  # served as the recipe's data is, as prepare_bundle does
            split = StreamedSplit(
                split, name="transfer", labels=split.y, input_shape=split.input_shape,
                num_workers=workers,
            )  # fmt: skip
    else:
        split = StreamedSplit(
            Subset(cast("Dataset[Any]", given), rows.tolist()),
            preprocessing=main.preprocessing,
            name="transfer",
            labels=torch.zeros(len(rows), dtype=torch.long),  # ignored: never decoded for them
            num_workers=workers,
        )
        if in_memory:
            streamed, split = split, materialize(split)
            streamed.close()
    if tuple(split.input_shape) != tuple(main.input_shape):
        raise RecipeError(
            field,
            f"{spec.dataset} {spec.split} inputs have shape {tuple(split.input_shape)} after "
            f"data.preprocess, but the data's are {tuple(main.input_shape)}; give a dataset of "
            "the same kind of images, or set data.preprocess.resize so both get one shape",
        )
    return split


def teacher_store(ctx: StageContext, teachers: list[Any], options: Any) -> OutputStore:
    """Where the stage's teacher outputs on streamed data are kept: the run's cache folder,
    keyed on the teachers, the data and the stage's teacher backend; a temporary folder when
    the run has no cache or a teacher's content is unknown."""
    from compressor.run.teacher_outputs import TEACHER_OUTPUTS_DIR, teacher_outputs_material

    material = teacher_outputs_material(ctx.run, teachers, teacher_backend=options.teacher_backend)
    folder = ctx.run.cache_dir
    if material is None or folder is None:
        return OutputStore(None)
    spec = options.transfer
    splits = {"transfer": spec.model_dump(mode="json")} if spec is not None else {}
    return OutputStore(folder / TEACHER_OUTPUTS_DIR, material, splits)
