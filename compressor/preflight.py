"""Checks that need the data and the models, run before any stage trains.

The recipe validator checks names, options and the artifact flow without torch. Some mistakes
only show with real objects: a module path in a feature loss, an ignored layer in a prune
stage. Stages that can make such mistakes register a ``preflight`` callable; it receives an
untrained instance of every model artifact (built from the architecture that produces it) and
the dataset, and raises :class:`~compressor.errors.RecipeError` before anything is trained.
"""

from __future__ import annotations

from functools import cached_property
from typing import TYPE_CHECKING

from compressor.records import resolve_factory
from compressor.schemas import ModelRef

if TYPE_CHECKING:
    from torch import nn

    from compressor.data import DataBundle
    from compressor.plan import Plan
    from compressor.plugin.registry import Registry


def load_data(plan: Plan, registry: Registry) -> DataBundle:
    """Load the recipe's dataset with its fixed split."""
    ref = plan.recipe.data
    return registry.get("dataset", ref.dataset).build(ref.parsed, seed=ref.split_seed)


def artifact_architectures(plan: Plan) -> dict[str, ModelRef]:
    """artifact name -> the model reference that builds its architecture.

    A stage with a ``model`` option and a ``model`` output produces that architecture; a stage
    that turns an input ``model`` into an output ``model`` (pruning) keeps the input's module
    paths, so its output maps to the same reference.
    """
    found: dict[str, ModelRef] = {}
    for info in plan.stages:
        output = info.outputs.get("model")
        if not isinstance(output, str):
            continue
        ref = getattr(info.options, "model", None)
        if isinstance(ref, ModelRef):
            found[output] = ref
        elif isinstance(info.inputs.get("model"), str) and info.inputs["model"] in found:
            found[output] = found[info.inputs["model"]]
    return found


class Preflight:
    """What a stage's preflight check gets: the data and untrained models."""

    def __init__(self, plan: Plan, registry: Registry, data: DataBundle) -> None:
        self.plan = plan
        self.registry = registry
        self.data = data
        self._built: dict[str, nn.Module] = {}

    @cached_property
    def architectures(self) -> dict[str, ModelRef]:
        """artifact name -> model reference (see :func:`artifact_architectures`)."""
        return artifact_architectures(self.plan)

    def build(self, ref: ModelRef) -> nn.Module:
        """An untrained model for the recipe's data."""
        record = self.registry.get("model", ref.name)
        return record.build(
            ref.parsed, input_shape=self.data.input_shape, num_classes=self.data.num_classes
        )

    def model(self, artifact: str) -> nn.Module | None:
        """An untrained instance of ``artifact``'s architecture, or ``None`` if unknown."""
        if artifact not in self._built:
            ref = self.architectures.get(artifact)
            if ref is None:
                return None
            self._built[artifact] = self.build(ref)
        return self._built[artifact]


def run_preflight(plan: Plan, registry: Registry, data: DataBundle) -> None:
    """Run every stage's preflight check, in recipe order.

    Raises:
        RecipeError: The first problem found, naming the field.
    """
    checker = Preflight(plan, registry, data)
    for info in plan.stages:
        record = registry.get("stage", info.type)
        if record.preflight is not None:
            resolve_factory(record.preflight)(info, checker)
