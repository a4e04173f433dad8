"""The split a decision reads: validation, and the test split only by an explicit, logged override.

A test figure estimates how a model does on data nothing was chosen on. Once the test split
picks an INT8 file, an epoch, a pruning ratio or a budget search's trial, the figures of what it
picked are optimistic, and nothing in the report says so. So every choice a stage or a
benchmark makes reads its data through :func:`decision_split`: the validation split by default;
``train`` where a choice is about fitting (calibration); the test split only when the caller
names the recipe field that asked for it (``override``), and then a warning says so in the log
and the caller records it (``chosen_on`` in ``metrics.json``, a line in the report).

Measuring is not deciding: the figures a report shows (``test_accuracy``) still come from
``data.test``, read directly, and only for what was already chosen.
"""

from __future__ import annotations

from compressor.data.bundle import DataBundle
from compressor.data.split import DataSplit
from compressor.logs import get_logger

log = get_logger(__name__)

#: The splits a decision may read; ``test`` only with an override.
DECISION_SPLITS = ("val", "train", "test")


class ChoiceOnTestSplit(ValueError):
    """A decision asked for the test split without naming what allowed it: a bug in the caller,
    since a recipe's explicit ``split: test`` is passed on as the override."""


def decision_split(
    data: DataBundle, split: str = "val", *, decides: str, override: str | None = None
) -> DataSplit:
    """The split a decision may read.

    Args:
        data: The run's data.
        split: ``val`` (the default), ``train``, or ``test`` with ``override``.
        decides: What is being chosen, for the log (e.g. ``quantize: the INT8 file``).
        override: The recipe field that explicitly asked for the test split (e.g.
            ``stages.quantize.split: test``); without it the test split is refused.

    Returns:
        The split.

    Raises:
        ChoiceOnTestSplit: ``split`` is ``test`` and no override was named.
        ValueError: ``split`` is not one of :data:`DECISION_SPLITS`.
    """
    if split not in DECISION_SPLITS:
        raise ValueError(
            f"a decision reads one of {', '.join(DECISION_SPLITS)}, not the split {split!r}"
        )
    if split == "test":
        if not override:
            raise ChoiceOnTestSplit(
                f"{decides} would be chosen on the test split; choices are made on the "
                "validation split, or on the test split only when the recipe says so "
                "explicitly (pass the recipe field as override)"
            )
        log.warning(
            "%s is chosen on the test split (%s): the test figures of what it chooses are no "
            "longer held out",
            decides,
            override,
        )
    chosen: DataSplit = getattr(data, split)
    return chosen
