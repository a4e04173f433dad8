"""Preflight checks of the built-in stages: module paths exist before anything trains."""

from __future__ import annotations

from typing import Any, cast

from compressor.context import StageInfo
from compressor.preflight import Preflight
from compressor.training.features import LOGITS, find_module


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


def distill_preflight(info: StageInfo, checker: Preflight) -> None:
    """The distill stage's feature-loss paths, in the student and in each teacher."""
    teachers = info.inputs.get("teacher", [])
    names = teachers if isinstance(teachers, list) else [teachers]
    check_loss_paths(
        f"stages.{info.name}.losses",
        info.options.losses,
        checker.build(info.options.model),
        {name: checker.model(name) for name in names},
    )


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
