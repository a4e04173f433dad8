"""What a run under torchrun (several processes) can do, checked before anything trains.

Every rank runs the stages marked ``all_ranks`` (training); rank 0 alone runs the others while
the rest wait (see :mod:`compressor.run.stages`). A stage on every rank therefore cannot read
what a rank-0-only stage made: the other ranks never have it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from compressor.errors import UsageError


def check_plan(stages: Sequence[Any], all_ranks: dict[str, bool]) -> None:
    """Refuse a recipe where a stage run on every rank reads what a rank-0-only stage made.

    Args:
        stages: The plan's :class:`compressor.context.StageInfo` list.
        all_ranks: Stage type -> whether it runs on every rank.

    Raises:
        UsageError: Such a stage exists (the other ranks would not have its input).
    """
    producer: dict[str, Any] = {}
    for info in stages:
        if all_ranks.get(info.type, False):
            for names in info.inputs.values():
                for name in names if isinstance(names, list) else [names]:
                    source = producer.get(name)
                    if source is not None and not all_ranks.get(source.type, False):
                        raise UsageError(
                            f"stages.{info.name}: reads {name!r} from stage {source.name!r} "
                            f"({source.type}), which runs on rank 0 only; with several processes "
                            "a stage that runs on every rank can read only models of stages that "
                            "do too (train, distill, prune, load)"
                        )
        for names in info.outputs.values():
            for name in names if isinstance(names, list) else [names]:
                producer[name] = info
