"""Built-in losses: ``kd`` (Hinton soft targets), ``ce`` (labels), ``mse_logits`` (Ba & Caruana).

Only pydantic at import time: the loss modules (and torch) load when a recipe first uses them.
"""

from __future__ import annotations

from pydantic import Field

from compressor import hookimpl
from compressor.records import LossPlugin
from compressor.schemas import StrictModel


class KDOptions(StrictModel):
    """Options of ``kd``."""

    temperature: float = Field(
        default=4.0, gt=0.0, description="Softmax temperature T; the loss is scaled by T^2."
    )


class CEOptions(StrictModel):
    """Options of ``ce``."""

    label_smoothing: float = Field(default=0.0, ge=0.0, lt=1.0)


@hookimpl
def compressor_register_losses() -> list[LossPlugin]:
    """Register the built-in logit losses."""
    return [
        LossPlugin(
            name="kd",
            factory="compressor_losses.logit:KDLoss.from_options",
            options=KDOptions,
            description="Hinton et al. 2015: KL(teacher || student) of softened outputs, x T^2.",
        ),
        LossPlugin(
            name="ce",
            factory="compressor_losses.logit:CrossEntropyLoss.from_options",
            options=CEOptions,
            needs_teacher=False,
            description="Cross-entropy with the labels (optionally label-smoothed).",
        ),
        LossPlugin(
            name="mse_logits",
            factory="compressor_losses.logit:MSELogitsLoss.from_options",
            description="Ba & Caruana 2014: mean squared error between raw logits.",
        ),
    ]
