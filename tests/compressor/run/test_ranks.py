"""Plans for several processes: a stage on every rank may read only what such stages made."""

from __future__ import annotations

import pytest

from compressor.context import StageInfo
from compressor.errors import UsageError
from compressor.run.ranks import check_plan


def test_a_training_stage_may_not_read_a_rank_0_artifact() -> None:
    def stage(name: str, type_: str, inputs: dict, outputs: dict) -> StageInfo:
        return StageInfo(
            name=name, type=type_, index=0, options=None, inputs=inputs, outputs=outputs
        )

    all_ranks = {"train": True, "distill": True, "mine": False}
    fine = [
        stage("t", "train", {}, {"model": "t"}),
        stage("d", "distill", {"teacher": ["t"]}, {"model": "d"}),
    ]
    check_plan(fine, all_ranks)
    bad = [
        stage("m", "mine", {}, {"model": "m"}),
        stage("d", "distill", {"teacher": ["m"]}, {"model": "d"}),
    ]
    with pytest.raises(UsageError, match="runs on rank 0 only"):
        check_plan(bad, all_ranks)
