"""compressor-plugin-example: one loss, one pruning method, one exporter and one stage.

This module is what the entry point names. compressor imports it for ``compressor plugins``
and ``compressor validate`` too, so it imports pydantic and compressor's records only: the
implementations (and torch) are named as ``"module:attr"`` strings and load on first use.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from pydantic import Field

from compressor import hookimpl
from compressor.records import ExporterPlugin, LossPlugin, PrunerPlugin, Role, StagePlugin
from compressor.schemas import StrictModel

if TYPE_CHECKING:
    from compressor.plugin.registry import Registry

__version__ = "0.1.0"


# --- loss: cosine ----------------------------------------------------------------------------


class CosineOptions(StrictModel):
    """Options of the ``cosine`` loss."""

    center: bool = Field(
        default=True,
        description="Subtract each sample's mean logit first: softmax ignores that shift, so the "
        "loss should too.",
    )


@hookimpl
def compressor_register_losses() -> list[LossPlugin]:
    """Register the ``cosine`` logit loss."""
    return [
        LossPlugin(
            name="cosine",
            factory="compressor_plugin_example.losses:CosineLoss.from_options",
            options=CosineOptions,
            description="1 - cosine similarity of (centered) student and teacher logits.",
        )
    ]


# --- pruning method: normalized_l1 -----------------------------------------------------------


class NormalizedL1Options(StrictModel):
    """Options of the ``normalized_l1`` pruning criterion."""

    bias: bool = Field(default=False, description="Count biases in a channel's L1 norm.")


@hookimpl
def compressor_register_pruners() -> list[PrunerPlugin]:
    """Register the ``normalized_l1`` pruning criterion."""
    return [
        PrunerPlugin(
            name="normalized_l1",
            factory="compressor_plugin_example.pruning:NormalizedL1Criterion",
            options=NormalizedL1Options,
            description="Channel L1 norm divided by its layer's mean, summed over the group.",
        )
    ]


# --- exporter: model_card --------------------------------------------------------------------


class ModelCardOptions(StrictModel):
    """Options of the ``model_card`` exporter."""

    description: str = Field(default="", description="Free text copied into the card.")
    max_depth: int = Field(
        default=1, ge=1, le=4, description="Module nesting levels listed in the architecture."
    )


@hookimpl
def compressor_register_exporters() -> list[ExporterPlugin]:
    """Register the ``model_card`` exporter."""
    return [
        ExporterPlugin(
            name="model_card",
            factory="compressor_plugin_example.model_card:ModelCardExporter",
            options=ModelCardOptions,
            suffix=".json",
            description="A JSON model card: architecture, parameters, input shape, classes.",
        )
    ]


# --- stage: summary --------------------------------------------------------------------------


class SummaryOptions(StrictModel):
    """Options of the ``summary`` stage."""

    max_depth: int = Field(default=1, ge=1, le=4, description="Module nesting levels listed.")


def _summary_outputs(inputs: dict[str, Any], options: Any, registry: Registry) -> dict[str, Any]:
    # `student` -> `student.summary.txt`: the recipe need not name the file.
    return {"summary": f"{inputs['model']}.summary.txt"}


@hookimpl
def compressor_register_stages() -> list[StagePlugin]:
    """Register the ``summary`` stage."""
    return [
        StagePlugin(
            name="summary",
            factory="compressor_plugin_example.summary:SummaryStage",
            options=SummaryOptions,
            inputs={"model": Role("the model to describe")},
            # file="{name}": the stage writes the file named like its artifact, so validation
            # can refuse a recipe in which another artifact would be the same file.
            outputs={
                "summary": Role("the summary text file (default: MODEL.summary.txt)", file="{name}")
            },
            default_outputs=_summary_outputs,
            description="Write MODEL.summary.txt: parameters and output shape per module.",
        )
    ]
