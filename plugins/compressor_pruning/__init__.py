"""Built-in structural pruning over torch-pruning's dependency graph: ``magnitude``.

Channels and hidden units are removed for real (the pruned model has fewer parameters and runs
faster), across residual adds and concatenations that the dependency graph tracks.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from compressor import hookimpl
from compressor.records import PrunerPlugin
from compressor.schemas import StrictModel


class MagnitudeOptions(StrictModel):
    """Options of ``magnitude``."""

    ratio: float = Field(
        default=0.5, ge=0.0, lt=1.0, description="Fraction of channels/units removed per layer."
    )
    importance: Literal["l1", "l2"] = Field(
        default="l2", description="Norm of a channel group's weights used to rank it."
    )
    global_pruning: bool = Field(
        default=False, description="Rank channels across layers instead of within each layer."
    )
    round_to: int | None = Field(
        default=None, ge=1, description="Keep channel counts multiples of this (hardware alignment)."
    )


@hookimpl
def compressor_register_pruners() -> list[PrunerPlugin]:
    """Register the built-in pruning methods."""
    return [
        PrunerPlugin(
            name="magnitude",
            factory="compressor_pruning.magnitude:MagnitudePruner",
            options=MagnitudeOptions,
            description="Remove the channel groups with the smallest L1/L2 weight norm.",
        )
    ]
