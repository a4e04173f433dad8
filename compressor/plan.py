"""A resolved recipe: the stages a run executes, each with its options and artifact names.

:func:`compressor.recipe.load` makes a :class:`Plan`; :func:`compressor.run.pipeline.run`
executes it, and every lifecycle hook and preflight check receives its :class:`StageInfo`. Both
live here, below the recipe and the run context, so that neither has to import the other.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from compressor.recipe.models import Recipe


@dataclass(frozen=True)
class StageInfo:
    """One stage of the recipe, resolved.

    Attributes:
        name: The stage's unique name (``teacher``, ``distill``, ...).
        type: The registered stage type (``train``, ``distill``, ...).
        index: Position in the recipe, from 0.
        options: The stage options, validated by the stage plugin's schema.
        inputs: slot -> artifact name (or list of names for ``many`` slots).
        outputs: slot -> artifact name (or list of names).
    """

    name: str
    type: str
    index: int
    options: Any
    inputs: dict[str, str | list[str]]
    outputs: dict[str, str | list[str]]


@dataclass
class Plan:
    """A validated, resolved recipe: what :func:`compressor.run.pipeline.run` executes.

    Attributes:
        recipe: The validated recipe.
        stages: Its stages, in order, resolved against the registry.
        source: Where the recipe came from (a file path, or ``<recipe>``).
    """

    recipe: Recipe
    stages: list[StageInfo]
    source: str

    def resolved(self) -> dict[str, Any]:
        """The recipe with every default filled in, as written to the run folder."""
        data = self.recipe.data.model_dump(mode="json")
        data["options"] = self.recipe.data.parsed.model_dump(mode="json")
        return {
            "version": self.recipe.version,
            "name": self.recipe.name,
            "description": self.recipe.description,
            "seed": self.recipe.seed,
            "device": self.recipe.device,
            "precision": self.recipe.precision,
            **({"task": self.recipe.task.model_dump(mode="json")} if self.recipe.task else {}),
            "data": data,
            "stages": [
                {
                    "name": s.name,
                    "type": s.type,
                    "inputs": s.inputs,
                    "outputs": s.outputs,
                    **s.options.model_dump(mode="json"),
                }
                for s in self.stages
            ],
        }


def artifact_names(value: str | list[str]) -> list[str]:
    """The artifact names in one slot: a ``many`` slot holds a list, any other slot one name."""
    return list(value) if isinstance(value, list) else [value]
