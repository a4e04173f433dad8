"""Options of what the model stages share (BatchNorm recalibration, freezing) and of ``load``.

pydantic only: importing this must not import torch.
"""

from __future__ import annotations

from pydantic import Field, model_validator

from compressor.schemas import ModelRef, StrictModel


class BatchNormRecalibration(StrictModel):
    """Recompute BatchNorm running statistics on training batches (no gradients, no labels)."""

    batches: int = Field(
        default=20, ge=1, description="Training batches the statistics are averaged over."
    )


FREEZE_DESCRIPTION = (
    "Module paths whose parameters do not train (e.g. a pretrained backbone's layer1); their "
    "BatchNorm layers keep their running statistics."
)
RECALIBRATE_DESCRIPTION = (
    "After training, recompute BatchNorm running statistics on this many training batches "
    "(a short schedule at a low BatchNorm momentum, such as MobileNet-v3's 0.01, leaves them "
    "far from the data); the stage logs validation accuracy before and after."
)


class LoadOptions(StrictModel):
    """``load``: a model used as it is (no training): a checkpoint, an ONNX file, or weights.

    Give ``path`` (a compressor checkpoint, or an ONNX file that teaches through onnxruntime),
    or ``model`` with ``weights`` (any registered or imported architecture and a state_dict
    file or weights name).
    """

    path: str | None = Field(
        default=None,
        description="A `<artifact>.pt` file from a compressor run folder, or an `.onnx` file "
        "(a teacher for logit losses, run in onnxruntime).",
    )
    model: ModelRef | None = Field(
        default=None, description="The architecture the weights are for (with weights:)."
    )
    weights: str | None = Field(
        default=None,
        description="With model: a state_dict file or a weights name, as the model's weights:.",
    )
    strict: bool | None = Field(
        default=None, description="With model: as the model's strict: (default true)."
    )

    @model_validator(mode="after")
    def _one_source(self) -> LoadOptions:
        if (self.path is None) == (self.model is None):
            raise ValueError(
                "give path: (a compressor checkpoint or an ONNX file) or model: with weights:, "
                "not both"
                if self.path is not None
                else "give path: (a compressor checkpoint or an ONNX file) or model: with weights:"
            )
        if self.model is None:
            if self.weights is not None or self.strict is not None:
                raise ValueError("weights: and strict: go with model:; path: is a whole model")
            return self
        if self.weights is not None:
            if self.model.weights not in (None, self.weights):
                raise ValueError(
                    f"weights given twice ({self.weights!r} and model.weights "
                    f"{self.model.weights!r}); give one"
                )
            self.model.weights = self.weights
        if self.model.weights is None:
            raise ValueError("model: needs weights: (a state_dict file or a weights name)")
        if self.strict is not None:
            self.model.strict = self.strict
        if self.model.head == "replace":
            raise ValueError(
                "head: replace would leave an untrained classifier, and a load stage does not "
                "train; use a train stage with this model to fine-tune it"
            )
        # Spelled out consistently, so the resolved recipe.yaml validates again.
        self.weights, self.strict = self.model.weights, self.model.strict
        return self
