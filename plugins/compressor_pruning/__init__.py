"""Built-in pruning methods: importance criteria over torch-pruning's dependency graph.

A pruning method decides *which* channel groups matter least; the prune stage and
:mod:`compressor.model.pruning` decide *how many* go (ratio, MACs or parameter target, schedule).
Channels are removed for real, across residual adds, concatenations and depthwise convs.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from compressor import hookimpl
from compressor.records import NoOptions, PrunerPlugin
from compressor.schemas import StrictModel


class NormOptions(StrictModel):
    """Options of the norm-based criteria (``magnitude``, ``lamp``, ``fpgm``)."""

    norm: Literal["l1", "l2"] = Field(
        default="l2", description="Norm of a channel group's weights used to rank it."
    )


class TaylorOptions(StrictModel):
    """Options of ``taylor``."""

    multivariable: bool = Field(
        default=False, description="Score a group jointly instead of summing per-parameter scores."
    )


class RandomOptions(StrictModel):
    """Options of ``random``."""

    seed: int = Field(default=0, description="Seeds the random ranking.")


@hookimpl
def compressor_register_pruners() -> list[PrunerPlugin]:
    """Register the built-in pruning criteria."""
    module = "compressor_pruning.criteria"
    return [
        PrunerPlugin(
            name="magnitude",
            factory=f"{module}:MagnitudeCriterion",
            options=NormOptions,
            description="Smallest L1/L2 weight norm of a channel group goes first.",
        ),
        PrunerPlugin(
            name="taylor",
            factory=f"{module}:TaylorCriterion",
            options=TaylorOptions,
            description="First-order Taylor: |weight x gradient| from a few batches of the stage's loss.",
        ),
        PrunerPlugin(
            name="bn_scale",
            factory=f"{module}:BNScaleCriterion",
            options=NoOptions,
            description="Network slimming: smallest BatchNorm scale |gamma| goes first (needs BatchNorm).",
        ),
        PrunerPlugin(
            name="lamp",
            factory=f"{module}:LAMPCriterion",
            options=NormOptions,
            description="Layer-adaptive magnitude (LAMP): norms rescaled per layer, for global pruning.",
        ),
        PrunerPlugin(
            name="fpgm",
            factory=f"{module}:FPGMCriterion",
            options=NormOptions,
            description="Filter pruning via geometric median: the most replaceable filters go first.",
        ),
        PrunerPlugin(
            name="random",
            factory=f"{module}:RandomCriterion",
            options=RandomOptions,
            description="Random ranking: the honest baseline every criterion must beat.",
        ),
    ]
