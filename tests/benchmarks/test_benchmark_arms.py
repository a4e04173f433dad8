"""The benchmarks' arms do the work their docstrings say, and their verdicts come from figures.

Cheap checks on the scripts' pieces (no benchmark is run): the fair arm of kd_throughput
trains exactly as the plain loop does, the controls of pruning and transfer differ from their
arms only as stated, models' MobileNet verdict is measured, validate_speed wraps the real
command's functions, and deployment's reproducibility spans processes.
"""

from __future__ import annotations

import copy
import importlib

import torch

from compressor.data import DataBundle, Split


def _digits_like(n: int = 64) -> DataBundle:
    g = torch.Generator().manual_seed(0)
    x = torch.randn(n, 1, 8, 8, generator=g)
    split = Split(x, (x.mean((1, 2, 3)) > 0).long())
    return DataBundle(name="t", train=split, val=split, test=split, num_classes=2)


def test_kd_throughputs_cached_arm_trains_the_student_the_plain_loop_trains() -> None:
    import kd_throughput

    torch.manual_seed(0)
    teacher = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(64, 2)).eval()
    student = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(64, 2))
    start = copy.deepcopy(student.state_dict())
    data = _digits_like()
    kd_throughput.plain_loop(teacher, student, data, 2, None)
    every_step = copy.deepcopy(student.state_dict())
    student.load_state_dict(start)
    kd_throughput.plain_loop(teacher, student, data, 2, None, cached=True)
    # Equal work, the teacher's outputs computed once: the very same student.
    for key, value in student.state_dict().items():
        torch.testing.assert_close(value, every_step[key])
    assert kd_throughput.PLAIN_ARMS[None]["plain, teacher cached"] == {"cached": True}


def test_prunings_control_is_the_same_fine_tuning_without_pruning() -> None:
    import pruning

    stages = {s["name"]: s for s in pruning.SEED_RECIPE["stages"]}
    control, pruned = dict(stages["unpruned"]), dict(stages["pruned"])
    assert control.pop("ratio") == 0.0 and pruned.pop("ratio") == 0.5
    control.pop("name"), pruned.pop("name")
    assert control == pruned


def test_transfers_added_arms_see_as_many_samples_as_the_transfer_run() -> None:
    import transfer

    raw, samples = transfer.arms_recipe(seed=3)
    stages = {s["name"]: s for s in raw["stages"]}
    assert raw["seed"] == 3 and samples["distill"] == 30 * 4500
    assert samples["distill_labelled"] == samples["student_alone_long"] == samples["distill"]
    labelled, distill = stages["distill_labelled"], stages["distill"]
    assert "transfer" not in labelled and labelled["losses"] == distill["losses"]
    assert labelled["model"] == distill["model"] == stages["student_alone_long"]["model"]


def test_models_mobilenet_verdict_is_measured_even_when_fp32_was_kept() -> None:
    import models

    stage = {
        "kept": "fp32",
        "chosen_on": "val",
        "test_fp32_accuracy": 0.9,
        "test_int8_accuracy": 0.9,
    }
    slower = {"mobilenet_v3_small": {"stage": stage, "timed": {1: (1.0, 1.25), 32: (5.0, 5.0)}}}
    (line,) = [x for x in models.int8_goals(slower) if "2. MobileNet" in x]
    assert "kept fp32" in line and "0.80x at batch 1" in line and line.endswith("NOT MET")
    same = {"mobilenet_v3_small": {"stage": stage, "timed": {1: (1.0, 1.02), 32: (5.0, 4.9)}}}
    (line,) = [x for x in models.int8_goals(same) if "2. MobileNet" in x]
    assert line.endswith(": met")


def test_validate_speed_wraps_functions_the_real_command_has() -> None:
    import validate_speed

    for where, attribute in validate_speed.WRAPPED:
        module, _, cls = where.partition(":")
        owner = importlib.import_module(module)
        assert callable(getattr(getattr(owner, cls) if cls else owner, attribute))


def test_deployments_reproducibility_is_the_largest_gap_among_processes() -> None:
    import deployment

    def grid(p50: float) -> list[dict[str, float]]:
        return [{"threads": 1, "batch": 1, "p50": p50, "round_spread": 0.0}]

    first = {"models": {"a.onnx": {"grid": grid(0.010)}}}
    again = [{"a.onnx": grid(0.0104)}, {"a.onnx": grid(0.0115)}]
    lines = deployment.reproducibility_lines(first, again)
    assert "3 processes" in lines[-1] and "15.0% at 1 thread(s)" in lines[-1]
    assert lines[-1].endswith("NOT MET")
