"""Whether a distill stage's transfer data holds the recipe's own validation or test rows.

Transfer data is taught by the teacher alone; its labels are never read. Rows of the recipe's
validation or test split among it would have the student learn the teacher's answers on the
very inputs it is then validated and tested on, and no figure would show it. So such an
overlap is refused (one line, exit 2) unless the recipe acknowledges it with
``transfer: {acknowledge_overlap: true}``; then ``metrics.json`` records it
(``transfer_overlap``) and the report says the stage's figures are not held out.

Two checks. Before anything trains (``compressor validate``), by name: the recipe's own data
(the same dataset and options, ``limit`` aside) with ``split: val``, ``test`` or ``all``. At run
time, by content, when the recipe's data and the transfer rows are held in memory: a row's key
is its values in 8-bit levels of the 0..1 scale (both are normalized with the recipe data's
statistics, so the same image gives the same key whatever dataset served it), which catches
the same images under another dataset name or other split options. Streamed data is checked by
name and options only.
"""

from __future__ import annotations

import hashlib
from typing import Any

import numpy as np

from compressor.context import StageContext, StageInfo
from compressor.data import DataBundle, DataSplit, Split
from compressor.errors import RecipeError
from compressor.preflight import Preflight

#: The recipe's splits transfer rows may not come from.
HELD_OUT = ("val", "test")
#: The transfer splits of the recipe's own dataset that hold its held-out rows.
HELD_OUT_SPLITS = ("val", "test", "all")
#: How to allow it, as the messages say.
ACKNOWLEDGE = "acknowledge_overlap: true"


def _own_held_out(spec: Any, data: Any) -> bool:
    """Whether ``spec`` names the recipe's own data (``data``, the recipe's ``data:``: the same
    dataset with the same options, ``limit`` aside, which only shortens the training split)
    and a split holding its held-out rows."""

    def options(given: dict[str, Any]) -> dict[str, Any]:
        return {k: v for k, v in given.items() if k != "limit"}

    same = spec.dataset == data.dataset and options(spec.options) == options(data.options)
    return same and spec.split in HELD_OUT_SPLITS


def check_held_out_split(info: StageInfo, checker: Preflight) -> None:
    """Before anything trains: refuse ``split: val | test | all`` of the recipe's own dataset.

    Raises:
        RecipeError: Naming ``stages.<name>.transfer.split``, unless acknowledged.
    """
    spec = info.options.transfer
    if spec is None or spec.acknowledge_overlap:
        return
    data = checker.plan.recipe.data
    if _own_held_out(spec, data):
        raise RecipeError(
            f"stages.{info.name}.transfer.split",
            f"split {spec.split} of the recipe's own data ({data.dataset}) holds its validation "
            "and test rows: the student would learn the teacher's answers on the inputs it is "
            f"scored on; use split: train (skip the labelled rows), or set {ACKNOWLEDGE} to "
            "record the overlap in metrics.json and the report",
            value=spec.split,
        )


def row_keys(split: Split, mean: tuple[float, ...], std: tuple[float, ...]) -> list[bytes]:
    """One key per row of ``split``: its values in 8-bit levels of the 0..1 scale, hashed.

    Args:
        split: Rows normalized with ``mean`` and ``std``.
        mean: Per-channel mean the rows were normalized with.
        std: Per-channel standard deviation.
    """
    x = split.x.double()
    shape = (1, -1) + (1,) * (x.dim() - 2)
    m, s = x.new_tensor(mean).view(shape), x.new_tensor(std).view(shape)
    levels = np.round(((x * s + m) * 255).numpy()).astype(np.int64).reshape(len(x), -1)
    return [hashlib.blake2b(row.tobytes(), digest_size=16).digest() for row in levels]


def count_held_out_rows(transfer: DataSplit, data: DataBundle) -> dict[str, int] | None:
    """How many rows of each held-out split of ``data`` are among ``transfer``'s rows, by
    content; ``None`` when either is streamed (not checked by content)."""
    splits = [transfer, *(getattr(data, name) for name in HELD_OUT)]
    if not all(isinstance(split, Split) for split in splits):
        return None
    mean, std = tuple(data.mean), tuple(data.std)
    keys = set(row_keys(transfer, mean, std))  # type: ignore[arg-type]
    return {
        name: sum(key in keys for key in row_keys(getattr(data, name), mean, std))
        for name in HELD_OUT
    }


def held_out_overlap(ctx: StageContext, spec: Any, transfer: DataSplit) -> dict[str, Any] | None:
    """Check the transfer rows against the recipe's held-out rows, by content where it can.

    Returns:
        What ``metrics.json`` records as ``transfer_overlap`` when the recipe acknowledged an
        overlap (``acknowledged``, ``checked``: ``rows`` or ``dataset name``, ``val_rows``,
        ``test_rows``; counts ``None`` when unknown), else ``None``.

    Raises:
        RecipeError: Transfer rows are held-out rows and the recipe did not acknowledge it.
    """
    counts = count_held_out_rows(transfer, ctx.data)
    field = f"stages.{ctx.info.name}.transfer"
    if counts is None:
        own = _own_held_out(spec, ctx.run.recipe.data)
        found: dict[str, int | None] = {f"{name}_rows": None for name in HELD_OUT}
        overlaps, checked = own, "dataset name"
    else:
        found = {f"{name}_rows": counts[name] for name in HELD_OUT}
        overlaps, checked = any(counts.values()), "rows"
    if spec.acknowledge_overlap:
        return {"acknowledged": True, "checked": checked, **found}
    if overlaps and counts is not None:
        raise RecipeError(
            field,
            f"{counts['val']} validation and {counts['test']} test rows of the recipe's data "
            f"are among the {len(transfer)} transfer rows ({spec.dataset} {spec.split}): the "
            "student would learn the teacher's answers on the inputs it is scored on; choose "
            f"other rows (split, skip, limit), or set {ACKNOWLEDGE} to record it",
        )
    return None
