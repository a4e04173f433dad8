"""Preflight checks of the built-in stages: module paths exist before anything trains."""

from __future__ import annotations

from typing import Any, cast

from compressor.context import StageInfo
from compressor.preflight import Preflight
from compressor.training.features import LOGITS, find_module
from compressor_stages.distill_transfer import check_transfer
from compressor_stages.transfer_overlap import check_held_out_split


def check_loss_paths(field: str, terms: list[Any], student: Any, teachers: dict[str, Any]) -> None:
    """Every ``student:``/``teacher:`` module path of ``terms`` exists in its network."""
    for i, term in enumerate(terms):
        if student is not None and term.student != LOGITS:
            find_module(student, term.student, f"{field}[{i}].student")
        if term.teacher == LOGITS:
            continue
        names = [term.teacher_artifact] if term.teacher_artifact else list(teachers)
        for name in names:
            if teachers.get(name) is not None:
                find_module(teachers[name], term.teacher, f"{field}[{i}].teacher")


def check_training_paths(field: str, options: Any, model: Any) -> None:
    """``freeze`` and ``optimizer.param_groups`` module paths exist in the trained model."""
    for i, path in enumerate(options.freeze):
        find_module(model, path, f"{field}.freeze[{i}]")
    for i, group in enumerate(options.optimizer.param_groups):
        for j, path in enumerate(group.modules):
            find_module(model, path, f"{field}.optimizer.param_groups[{i}].modules[{j}]")


def train_preflight(info: StageInfo, checker: Preflight) -> None:
    """The train stage's frozen modules and parameter groups, in its model."""
    field = f"stages.{info.name}"
    check_training_paths(field, info.options, checker.build(info.options.model, f"{field}.model"))


def distill_preflight(info: StageInfo, checker: Preflight) -> None:
    """The distill stage's feature-loss paths, in the student and in each teacher; its frozen
    modules and parameter groups, in the student."""
    field = f"stages.{info.name}"
    teachers = info.inputs.get("teacher", [])
    names = teachers if isinstance(teachers, list) else [teachers]
    student = checker.build(info.options.model, f"{field}.model")
    check_loss_paths(
        f"{field}.losses",
        info.options.losses,
        student,
        {name: checker.model(name) for name in names},
    )
    check_training_paths(field, info.options, student)
    check_transfer(info, checker)
    check_held_out_split(info, checker)


def prune_preflight(info: StageInfo, checker: Preflight) -> None:
    """The prune stage's ignored and per-module paths, and its fine-tune losses' paths."""
    # A one-artifact slot: the recipe resolver put one name there.
    model_name = cast(str, info.inputs["model"])
    source = checker.model(model_name)
    if source is None:
        return
    field = f"stages.{info.name}"
    for i, path in enumerate(info.options.ignored):
        find_module(source, path, f"{field}.ignored[{i}]")
    for path in info.options.ratios:
        find_module(source, path, f"{field}.ratios.{path}")
    teacher_name = info.inputs.get("teacher")
    teacher = checker.model(teacher_name) if isinstance(teacher_name, str) else source
    check_loss_paths(
        f"{field}.finetune.losses",
        info.options.finetune.losses,
        source,
        {teacher_name if isinstance(teacher_name, str) else model_name: teacher},
    )
