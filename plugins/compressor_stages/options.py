"""Options schemas of the built-in stages (pydantic only: importing this must not import torch)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from compressor.schemas import (
    ExporterRef,
    LossTerm,
    ModelRef,
    OptimizerConfig,
    PrunerRef,
    StrictModel,
)


def _default_distill_losses() -> list[LossTerm]:
    return [
        LossTerm(name="kd", weight=0.9, options={"temperature": 4.0}),
        LossTerm(name="ce", weight=0.1),
    ]


class TrainOptions(StrictModel):
    """``train``: fit a model on the labels alone."""

    model: ModelRef = Field(description="The architecture to train.")
    epochs: int = Field(default=10, ge=1, description="Passes over the training split.")
    optimizer: OptimizerConfig = Field(default_factory=OptimizerConfig)
    losses: list[LossTerm] = Field(
        default_factory=lambda: [LossTerm(name="ce")],
        min_length=1,
        description="Weighted loss terms; in a train stage they may not need a teacher.",
    )


class DistillOptions(StrictModel):
    """``distill``: train a student on the teacher's outputs (and the labels)."""

    model: ModelRef = Field(description="The student architecture.")
    epochs: int = Field(default=20, ge=1)
    optimizer: OptimizerConfig = Field(default_factory=OptimizerConfig)
    losses: list[LossTerm] = Field(default_factory=_default_distill_losses, min_length=1)
    cache_teacher: bool = Field(
        default=True,
        description="Compute the teacher's outputs once when the inputs are deterministic.",
    )


class FinetuneOptions(StrictModel):
    """How a prune stage heals the pruned model: distillation from the teacher."""

    epochs: int = Field(default=5, ge=0, description="0 skips fine-tuning.")
    optimizer: OptimizerConfig = Field(default_factory=lambda: OptimizerConfig(lr=5e-4))
    losses: list[LossTerm] = Field(default_factory=_default_distill_losses, min_length=1)


class PruneOptions(StrictModel):
    """``prune``: remove channels or units for real, then fine-tune with the teacher."""

    pruner: PrunerRef = Field(description="The pruning method and its options (e.g. the ratio).")
    ignored: list[str] = Field(
        default_factory=list,
        description="Module paths never pruned, in addition to the classifier.",
    )
    finetune: FinetuneOptions = Field(default_factory=FinetuneOptions)


class ExportOptions(StrictModel):
    """``export``: write each input model to a deployable file."""

    exporter: ExporterRef = Field(default_factory=lambda: ExporterRef(name="onnx"))
    parity_samples: int = Field(
        default=64, ge=2, description="Real test inputs used for the parity check."
    )


class BenchmarkOptions(StrictModel):
    """``benchmark``: accuracy, latency, throughput and size of ONNX models in onnxruntime."""

    reference: str | None = Field(
        default=None, description="Artifact the ratios are computed against (default: the first)."
    )
    split: Literal["test", "val"] = "test"
    latency_batch: int = Field(default=1, ge=1)
    throughput_batch: int = Field(default=256, ge=1)
    warmup: int = Field(default=10, ge=0)
    repeat: int = Field(default=100, ge=1, description="Minimum timed runs per measurement.")
    min_seconds: float = Field(default=0.5, ge=0.0, description="Minimum time per measurement.")
    threads: int | None = Field(
        default=None, ge=1, description="onnxruntime intra-op threads (default: all cores)."
    )
