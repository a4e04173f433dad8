"""Built-in losses: logit (``kd``, ``dkd``, ``dist``, ``mse_logits``, ``ce``), feature
(``fitnet``, ``at``) and relation (``rkd``, ``pkt``, ``sp``) losses. See docs/losses.md.

Only pydantic at import time: the loss modules (and torch) load when a recipe first uses them.
"""

from __future__ import annotations

from typing import ClassVar

from pydantic import Field, model_validator

from compressor import hookimpl
from compressor.records import LossPlugin
from compressor.schemas import StrictModel

_TEMPERATURE = "Softmax temperature T (> 0); the loss is scaled by T^2."
_STANDARDIZE = (
    "Sun et al. 2024 logit standardization: z-score each sample's logits (student and teacher) "
    "before the temperature, so the student matches the teacher's logit shape, not its scale."
)


class _Weighted(StrictModel):
    """Options with several non-negative part weights, at least one of them positive."""

    part_weights: ClassVar[tuple[str, ...]] = ()

    @model_validator(mode="after")
    def _some_weight_is_positive(self) -> _Weighted:
        if self.part_weights and all(getattr(self, name) == 0 for name in self.part_weights):
            raise ValueError(
                f"{' and '.join(self.part_weights)} are both 0: the loss would always be 0"
            )
        return self


class KDOptions(StrictModel):
    """Options of ``kd``."""

    temperature: float = Field(default=4.0, gt=0.0, description=_TEMPERATURE)
    standardize: bool = Field(default=False, description=_STANDARDIZE)


class CEOptions(StrictModel):
    """Options of ``ce``."""

    label_smoothing: float = Field(
        default=0.0, ge=0.0, lt=1.0, description="Label smoothing epsilon in [0, 1)."
    )


class MSELogitsOptions(StrictModel):
    """Options of ``mse_logits``."""

    standardize: bool = Field(default=False, description=_STANDARDIZE)


class DKDOptions(_Weighted):
    """Options of ``dkd``."""

    part_weights: ClassVar[tuple[str, ...]] = ("alpha", "beta")

    alpha: float = Field(default=1.0, ge=0.0, description="Weight of TCKD (target vs non-target).")
    beta: float = Field(
        default=8.0, ge=0.0, description="Weight of NCKD (among non-target classes)."
    )
    temperature: float = Field(default=4.0, gt=0.0, description=_TEMPERATURE)
    standardize: bool = Field(default=False, description=_STANDARDIZE)


class DISTOptions(_Weighted):
    """Options of ``dist``."""

    part_weights: ClassVar[tuple[str, ...]] = ("beta", "gamma")

    beta: float = Field(
        default=1.0, ge=0.0, description="Weight of the inter-class relation (per sample)."
    )
    gamma: float = Field(
        default=1.0, ge=0.0, description="Weight of the intra-class relation (per class)."
    )
    temperature: float = Field(default=1.0, gt=0.0, description=_TEMPERATURE)
    standardize: bool = Field(default=False, description=_STANDARDIZE)


class FitNetOptions(StrictModel):
    """Options of ``fitnet`` (none: the adapter is set on the loss term)."""


class ATOptions(StrictModel):
    """Options of ``at``."""

    p: float = Field(
        default=2.0,
        ge=1.0,
        description="Exponent of the attention map mean_c |f_c|^p (>= 1: finite gradients at 0).",
    )


class RKDOptions(_Weighted):
    """Options of ``rkd``."""

    part_weights: ClassVar[tuple[str, ...]] = ("distance_weight", "angle_weight")

    distance_weight: float = Field(
        default=1.0, ge=0.0, description="Weight of the distance-wise term (paper: lambda_D = 1)."
    )
    angle_weight: float = Field(
        default=2.0, ge=0.0, description="Weight of the angle-wise term (paper: lambda_A = 2)."
    )


class PKTOptions(StrictModel):
    """Options of ``pkt`` (none)."""


class SPOptions(StrictModel):
    """Options of ``sp`` (none)."""


@hookimpl
def compressor_register_losses() -> list[LossPlugin]:
    """Register the built-in losses."""
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
            options=MSELogitsOptions,
            description="Ba & Caruana 2014: mean squared error between raw logits.",
        ),
        LossPlugin(
            name="dkd",
            factory="compressor_losses.logit:DKDLoss.from_options",
            options=DKDOptions,
            description="Zhao et al. 2022, decoupled KD: alpha*TCKD + beta*NCKD, x T^2 (needs labels).",
        ),
        LossPlugin(
            name="dist",
            factory="compressor_losses.logit:DISTLoss.from_options",
            options=DISTOptions,
            description="Huang et al. 2022: Pearson inter- and intra-class relations of softmax outputs.",
        ),
        LossPlugin(
            name="fitnet",
            factory="compressor_losses.feature:FitNetLoss.from_options",
            options=FitNetOptions,
            inputs="features",
            description="Romero et al. 2015 hints: MSE between (adapted) student and teacher features.",
        ),
        LossPlugin(
            name="at",
            factory="compressor_losses.feature:AttentionTransferLoss.from_options",
            options=ATOptions,
            inputs="features",
            description="Zagoruyko & Komodakis 2017: distance of L2-normalized spatial attention maps.",
        ),
        LossPlugin(
            name="rkd",
            factory="compressor_losses.relation:RKDLoss.from_options",
            options=RKDOptions,
            inputs="any",
            description="Park et al. 2019: pairwise-distance and triplet-angle relations (Huber).",
        ),
        LossPlugin(
            name="pkt",
            factory="compressor_losses.relation:PKTLoss.from_options",
            options=PKTOptions,
            inputs="any",
            description="Passalis & Tefas 2018: KL between cosine-kernel neighbour distributions.",
        ),
        LossPlugin(
            name="sp",
            factory="compressor_losses.relation:SPLoss.from_options",
            options=SPOptions,
            inputs="any",
            description="Tung & Mori 2019: distance of row-normalized batch similarity matrices.",
        ),
    ]
