"""Compressing to a budget: the ``search`` stage (optuna), its space and its constraints.

Registered through the ``compressor`` entry-point group exactly as a third party's package
would be. Only pydantic and the SDK records are imported here; optuna and torch load when a
search runs (the factory is an import path).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from compressor import hookimpl
from compressor.records import Role, StagePlugin
from compressor_search.options import SearchOptions

if TYPE_CHECKING:
    from compressor.plugin.registry import Registry


def check_options(options: Any, registry: Registry) -> list[tuple[str, str]]:
    """What the schema cannot see alone: criteria that are no registered pruner, and the
    ``student`` family without the stage's ``model:``."""
    problems: list[tuple[str, str]] = []
    names = set(registry.names("pruner"))
    for i, criterion in enumerate(options.space.criteria):
        if criterion not in names:
            choices = ", ".join(sorted(names))
            problems.append(
                (f"space.criteria[{i}]", f"unknown pruner {criterion!r}; valid choices: {choices}")
            )
    for i, family in enumerate(options.space.families or []):
        if family == "student" and options.model is None:
            problems.append(
                (f"space.families[{i}]", "'student' is the stage's model:, which is not given")
            )
        elif isinstance(family, str) and family not in ("student", "teacher"):
            problems.append(
                (
                    f"space.families[{i}]",
                    (
                        f"unknown family {family!r}; valid choices: teacher, student, or a "
                        "model entry {name: ..., options: {...}}"
                    ),
                )
            )
    return problems


@hookimpl
def compressor_register_stages() -> list[StagePlugin]:
    """Register the ``search`` stage."""
    return [
        StagePlugin(
            name="search",
            factory="compressor_search.stage:SearchStage",
            options=SearchOptions,
            inputs={"teacher": Role("the trained teacher: distilled from, and pruned")},
            outputs={"model": Role("the winning student", file="{name}.pt")},
            check=check_options,
            preflight="compressor_search.preflight:search_preflight",
            cacheable=True,
            measures_machine=True,
            all_ranks=False,
            description="Search (optuna) for the student that best meets a budget of latency, "
            "size, MACs, parameters and metric: screened cheaply, finalists trained in full.",
        )
    ]
