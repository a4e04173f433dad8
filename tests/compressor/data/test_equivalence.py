"""The tiny recipe gives the same figures in memory and streamed, with and without workers.

Every stage reads the data through the helpers: training, distillation, pruning's fine-tune
and gradient probe, the sensitivity sweep, export's parity check, INT8 calibration and the
benchmark's accuracy. Timings and the recipe's hash (its data fields differ) are left out.
"""

from __future__ import annotations

import copy
from typing import Any

import pytest

from compressor.testing import run_tiny_recipe
from tests.conftest import TINY_RECIPE

STAGES = [
    *copy.deepcopy(TINY_RECIPE["stages"]),
    {"name": "sensitivity", "type": "sensitivity", "inputs": {"model": "student"}, "ratios": [0.5]},
    {
        "name": "quantize",
        "type": "quantize",
        "inputs": {"models": ["student.onnx"]},
        "mode": "static",
        "calibration_batches": 2,
    },
]
STAGES[2] = {**STAGES[2], "pruner": {"name": "taylor"}}  # its gradient probe reads batches too
IMPLEMENTATION = (
    "recipe_hash",
    "torch_eager",
    "limits",
    "ratios",
    "teacher_outputs",
    "teacher_backends",
)
TIMINGS = {"seconds", "samples_per_second", "grid", "latency_ms", "throughput_per_s", "runs"}


def _figures(value: Any) -> Any:
    """``value`` without its timings, and without what names the recipe."""
    if isinstance(value, dict):
        return {
            k: _figures(v)
            for k, v in value.items()
            if k not in TIMINGS
            # Where teacher outputs were kept (RAM in memory, disk streamed) and so where the
            # teacher ran: the streamed path does not share them across stages through RAM,
            # so prune's fine-tune computes them again (on the fast backend), same figures.
            and k not in IMPLEMENTATION
            and not k.endswith("_latency_ms")
        }
    if isinstance(value, list):
        return [_figures(v) for v in value]
    return value


@pytest.fixture(scope="module")
def in_memory(tmp_path_factory) -> dict[str, Any]:
    run = run_tiny_recipe(
        STAGES,
        data={"dataset": "digits", "in_memory": True},
        tmp_path=tmp_path_factory.mktemp("memory"),
    )
    assert run.metrics["data"]["in_memory"] is True
    return run.metrics


@pytest.mark.parametrize("workers", [0, 2])
def test_streamed_runs_give_the_in_memory_figures(in_memory, workers, tmp_path) -> None:
    data = {"dataset": "digits", "in_memory": False, "num_workers": workers}
    streamed = run_tiny_recipe(STAGES, data=data, tmp_path=tmp_path).metrics
    assert streamed["data"]["in_memory"] is False
    assert streamed["data"]["loading"]["num_workers"] == workers
    for stage in in_memory["stages"]:
        assert _figures(streamed["stages"][stage]) == _figures(in_memory["stages"][stage]), stage
    # They are real figures: the stages trained, calibrated and measured something.
    assert in_memory["stages"]["distill"]["history"][-1]["loss"] > 0
    assert (
        in_memory["stages"]["quantize"]["files"]["student.int8.onnx"]["calibration_samples"] == 128
    )
