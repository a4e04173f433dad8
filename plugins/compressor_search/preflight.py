"""The search stage's checks before anything trains (``compressor validate`` runs them too).

The families' model entries are built by every run's preflight already (at their own width);
here the pruning criteria meet the teacher's architecture: a criterion that cannot rank it
(``bn_scale`` on a model without BatchNorm) would fail every pruned candidate, so it is a
recipe error now rather than a column of failed trials later.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from torch import nn

from compressor.errors import RecipeError
from compressor_search.space import resolve_families

if TYPE_CHECKING:
    from compressor.context import StageInfo
    from compressor.preflight import Preflight


def search_preflight(info: StageInfo, checker: Preflight) -> None:
    """Every criterion of the space can rank the teacher, when the space prunes it.

    Raises:
        RecipeError: A family that cannot be built, or a criterion that cannot rank the
            teacher, naming the field.
    """
    field = f"stages.{info.name}"
    options = info.options
    families = resolve_families(options, field)
    teacher_name = info.inputs.get("teacher")
    teacher = checker.model(teacher_name) if isinstance(teacher_name, str) else None
    if teacher is None or not any(f.pruned for f in families):
        return
    if not isinstance(teacher, nn.Module) or not any(True for _ in teacher.parameters()):
        return  # an ONNX teacher: the stage says so when it starts
    for i, name in enumerate(options.space.criteria):
        record = checker.registry.get("pruner", name)
        criterion = record.build(record.options())
        problem = criterion.check_model(teacher) if hasattr(criterion, "check_model") else None
        if problem:
            raise RecipeError(
                f"{field}.space.criteria[{i}]",
                f"{problem}; leave it out, or 'teacher' out of the families",
                value=name,
            )
