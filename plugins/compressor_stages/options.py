"""Options schemas of the built-in stages (pydantic only: importing this must not import torch)."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, model_validator

from compressor.recipe import AugmentConfig
from compressor.schemas import (
    ExporterRef,
    LossTerm,
    ModelRef,
    OptimizerConfig,
    PrunerRef,
    StrictModel,
)
from compressor_stages.distill_options import TransferData, TransferMode
from compressor_stages.model_options import (
    FREEZE_DESCRIPTION,
    RECALIBRATE_DESCRIPTION,
    BatchNormRecalibration,
)

#: Where a teacher that must run every step runs (see compressor.training.fast_teacher.fastest_teacher).
TeacherBackend = Literal["auto", "torch", "torchscript", "channels_last", "onnxruntime"]


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
    freeze: list[str] = Field(default_factory=list, description=FREEZE_DESCRIPTION)
    recalibrate_bn: BatchNormRecalibration | None = Field(
        default=None, description=RECALIBRATE_DESCRIPTION
    )
    losses: list[LossTerm] = Field(
        default_factory=lambda: [LossTerm(name="ce")],
        min_length=1,
        description="Weighted loss terms; in a train stage they may not need a teacher.",
    )
    augment: AugmentConfig | None = Field(
        default=None,
        description="This stage's augmentation, instead of data.augment (e.g. a student trained "
        "with heavier mixup than its teacher was).",
    )


class DistillOptions(StrictModel):
    """``distill``: train a student on the teacher's outputs (and the labels)."""

    model: ModelRef = Field(description="The student architecture.")
    epochs: int = Field(default=20, ge=1)
    optimizer: OptimizerConfig = Field(default_factory=OptimizerConfig)
    losses: list[LossTerm] = Field(default_factory=_default_distill_losses, min_length=1)
    freeze: list[str] = Field(default_factory=list, description=FREEZE_DESCRIPTION)
    recalibrate_bn: BatchNormRecalibration | None = Field(
        default=None, description=RECALIBRATE_DESCRIPTION
    )
    cache_teacher: bool = Field(
        default=True,
        description="Compute the teacher's outputs once when the inputs are deterministic.",
    )
    teacher_backend: TeacherBackend = Field(
        default="auto",
        description="Where the teacher runs when it must run every step (augmentation): auto "
        "is torchscript for image batches on the CPU (channels_last when the teacher cannot "
        "be traced; same choice every run), else torch.",
    )
    augment: AugmentConfig | None = Field(
        default=None,
        description="This stage's augmentation, instead of data.augment (e.g. a student trained "
        "with heavier mixup than its teacher was).",
    )
    transfer: TransferData | None = Field(
        default=None,
        description="Unlabelled data the student learns from the teacher alone (docs/data.md).",
    )
    transfer_mode: TransferMode = Field(
        default="add",
        description="add: train on data's training split and the transfer data; replace: on "
        "the transfer data alone.",
    )


class FinetuneOptions(StrictModel):
    """How a prune stage heals the pruned model: distillation from the teacher."""

    epochs: int = Field(default=5, ge=0, description="Epochs after the last pruning step; 0 skips.")
    epochs_between_steps: int = Field(
        default=1, ge=0, description="Epochs after each intermediate step of iterative pruning."
    )
    optimizer: OptimizerConfig = Field(default_factory=lambda: OptimizerConfig(lr=5e-4))
    losses: list[LossTerm] = Field(default_factory=_default_distill_losses, min_length=1)
    teacher_backend: TeacherBackend = Field(
        default="auto",
        description="As for distill: where the teacher runs when it must run every step.",
    )


class PruneOptions(StrictModel):
    """``prune``: remove channels or units for real, then fine-tune with the teacher.

    Give one of ``ratio``, ``target_macs`` or ``target_params`` (default: ``ratio: 0.5``).
    """

    pruner: PrunerRef = Field(
        default_factory=lambda: PrunerRef(name="magnitude"),
        description="The importance criterion: magnitude, taylor, bn_scale, lamp, fpgm, random.",
    )
    ratio: float | None = Field(
        default=None, ge=0.0, lt=1.0, description="Fraction of channels removed per layer."
    )
    target_macs: float | None = Field(
        default=None,
        gt=0.0,
        lt=1.0,
        description="Prune until MACs <= this fraction of the original.",
    )
    target_params: float | None = Field(
        default=None, gt=0.0, lt=1.0, description="Prune until parameters <= this fraction."
    )
    global_pruning: bool = Field(
        default=False, description="Rank channels across layers instead of within each layer."
    )
    ratios: dict[str, Annotated[float, Field(ge=0.0, lt=1.0)]] = Field(
        default_factory=dict, description="Per-module ratios by module path, overriding ratio."
    )
    max_ratio: float = Field(
        default=0.9,
        gt=0.0,
        lt=1.0,
        description="The most a layer may lose when aiming at a target.",
    )
    round_to: int | None = Field(
        default=None,
        ge=1,
        description="Keep channel counts multiples of this (hardware alignment).",
    )
    iterative_steps: int = Field(
        default=1, ge=1, description="Reach the goal in this many steps, fine-tuning between them."
    )
    ignored: list[str] = Field(
        default_factory=list,
        description="Module paths never pruned, in addition to the classifier.",
    )
    calibration_batches: int = Field(
        default=4, ge=1, description="Batches of the loss used by gradient-based criteria (taylor)."
    )
    recalibrate_bn: BatchNormRecalibration | None = Field(
        default_factory=BatchNormRecalibration,
        description="After pruning (each step), recompute BatchNorm running statistics on this "
        "many training batches before fine-tuning: the layers' inputs changed with the channels "
        "removed. null: keep the statistics as pruned.",
    )
    finetune: FinetuneOptions = Field(default_factory=FinetuneOptions)

    @model_validator(mode="after")
    def _one_goal(self) -> PruneOptions:
        goals = [
            n for n in ("ratio", "target_macs", "target_params") if getattr(self, n) is not None
        ]
        if len(goals) > 1:
            raise ValueError(
                f"give only one of ratio, target_macs, target_params (got {', '.join(goals)})"
            )
        if not goals:
            self.ratio = 0.5
        return self


class SensitivityOptions(StrictModel):
    """``sensitivity``: validation accuracy after pruning at each ratio, without fine-tuning."""

    pruner: PrunerRef = Field(default_factory=lambda: PrunerRef(name="magnitude"))
    ratios: list[Annotated[float, Field(ge=0.0, lt=1.0)]] = Field(
        default_factory=lambda: [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9], min_length=1
    )
    per_layer: bool = Field(default=False, description="Also sweep each prunable layer alone.")
    ignored: list[str] = Field(default_factory=list, description="Module paths never pruned.")
    calibration_batches: int = Field(default=4, ge=1)


class ExportOptions(StrictModel):
    """``export``: write each input model to a deployable file."""

    exporter: ExporterRef = Field(default_factory=lambda: ExporterRef(name="onnx"))
    parity_samples: int = Field(
        default=64, ge=2, description="Real test inputs used for the parity check."
    )


class BenchmarkOptions(StrictModel):
    """``benchmark``: accuracy, latency, throughput and size of ONNX models in onnxruntime.

    Timed per batch size and intra-op thread count. ``batch_sizes`` replaces the older pair
    ``latency_batch`` / ``throughput_batch`` (still accepted: they mean ``[latency_batch,
    throughput_batch]``); ``threads`` takes one count or a list.
    """

    reference: str | None = Field(
        default=None, description="Artifact the ratios are computed against (default: the first)."
    )
    split: Literal["test", "val"] = "test"
    batch_sizes: list[Annotated[int, Field(ge=1)]] | None = Field(
        default=None,
        min_length=1,
        description="Batch sizes timed; the smallest gives the latency, the largest the throughput.",
    )
    latency_batch: int = Field(default=1, ge=1)
    throughput_batch: int = Field(default=256, ge=1)
    warmup: int = Field(default=10, ge=0)
    repeat: int = Field(default=100, ge=1, description="Minimum timed runs per measurement.")
    min_seconds: float = Field(default=0.5, ge=0.0, description="Minimum time per measurement.")
    rounds: int = Field(
        default=5,
        ge=1,
        description="Interleaved rounds the timed calls of every model are spread over, so "
        "models compare under the same load.",
    )
    threads: Annotated[int, Field(ge=1)] | list[Annotated[int, Field(ge=1)]] | None = Field(
        default=None,
        description="onnxruntime intra-op threads, one count or a list (default: all cores); "
        "the first gives the headline figures.",
    )
    providers: list[Literal["cpu", "cuda"]] | None = Field(
        default=None,
        min_length=1,
        description="Execution providers timed (default: cpu, and cuda when the run's device is "
        "CUDA and onnxruntime has it).",
    )
    torch_eager: bool = Field(
        default=True,
        description="Also time the PyTorch model each file was exported from, when the run has it.",
    )
    limits: bool = Field(
        default=True,
        description="Measure onnxruntime's per-call floor and MatMul peak to compare models with.",
    )

    @model_validator(mode="after")
    def _one_way_to_say_batches(self) -> BenchmarkOptions:
        if self.batch_sizes is None:
            return self
        low, high = min(self.batch_sizes), max(self.batch_sizes)
        for name, implied in (("latency_batch", low), ("throughput_batch", high)):
            given = getattr(self, name)
            if name in self.model_fields_set and given != implied:
                raise ValueError(
                    f"{name}: {given} disagrees with batch_sizes {sorted(set(self.batch_sizes))}, "
                    f"whose {'smallest' if implied == low else 'largest'} is the {name.split('_')[0]} "
                    "batch; give batch_sizes alone"
                )
        # Spelled out consistently, so the resolved recipe.yaml validates again.
        self.latency_batch, self.throughput_batch = low, high
        return self

    @property
    def batches(self) -> list[int]:
        """The batch sizes to time, ascending."""
        return sorted(set(self.batch_sizes or [self.latency_batch, self.throughput_batch]))

    @property
    def thread_counts(self) -> list[int | None]:
        """The intra-op thread counts to time, in the recipe's order (``None``: the default)."""
        if self.threads is None:
            return [None]
        return list(
            dict.fromkeys(self.threads if isinstance(self.threads, list) else [self.threads])
        )


class QuantizeOptions(StrictModel):
    """``quantize``: INT8 copies of ONNX files with onnxruntime's quantization tools.

    ``mode: auto`` (the default) builds the static and the dynamic INT8 candidates, measures
    them next to the FP32 file, and keeps the fastest one that is accurate enough, or FP32 when
    none is faster; ``dynamic`` and ``static`` build that one file, as before.
    """

    mode: Literal["auto", "dynamic", "static"] = Field(
        default="auto",
        description="auto: measure static (per-channel, uint8 activations), dynamic and FP32 in "
        "this run and keep the fastest that is accurate enough; dynamic: INT8 weights, "
        "activations quantized per batch; static: QDQ with activation ranges calibrated on "
        "training batches.",
    )
    per_channel: bool | None = Field(
        default=None,
        description="One weight scale per output channel (default: true for auto's static "
        "candidate, false otherwise).",
    )
    activations: Literal["int8", "uint8"] | None = Field(
        default=None,
        description="Static activations' type (default: uint8 for auto's static candidate, int8 "
        "for mode: static); onnxruntime's x86 kernels run QDQ convolutions as integer "
        "ones with uint8.",
    )
    calibration_batches: int = Field(
        default=8, ge=1, description="Training-split batches used to calibrate (static mode)."
    )
    calibration_batch_size: int | None = Field(
        default=None, ge=1, description="Calibration batch size (default: data.batch_size)."
    )
    preprocess: bool = Field(
        default=True, description="Run onnxruntime's quant_pre_process first (recommended)."
    )
    integer_input: bool = Field(
        default=True,
        description="A model taking raw uint8 pixels whose first layer is a Linear feeds the "
        "integers straight into that layer (INT8 weights per output unit, input not quantized).",
    )
    keep_fp32_below: int = Field(
        default=4096,
        ge=0,
        description="Layers with fewer weights than this stay FP32 (a small head saves a few KiB "
        "as INT8 but adds a quantize/dequantize pair per call), unless every layer is that small; "
        "convolutions count by block (a run joined through activations, pooling or adds is "
        "quantized or kept whole); 0 quantizes every layer.",
    )
    split: Literal["val", "test"] = Field(
        default="val",
        description="Split the choices are made on: auto's candidate and the max_accuracy_drop "
        "guard. test only when said explicitly (the report then says the test figures were "
        "not held out); the published file's test accuracy is measured on test either way.",
    )
    max_accuracy_drop: float | None = Field(
        default=None,
        ge=0.0,
        description="dynamic, static: fail the stage when INT8 loses more accuracy points than "
        "this vs FP32; auto: a candidate that does is not kept (default for auto: 1.0).",
    )
    threads: int = Field(
        default=1, ge=1, description="auto: onnxruntime intra-op threads the candidates run on."
    )
    auto_batches: list[Annotated[int, Field(ge=1)]] = Field(
        default_factory=lambda: [1, 32],
        min_length=1,
        description="auto: batch sizes each candidate is timed at.",
    )
    auto_seconds: float = Field(
        default=0.3,
        gt=0.0,
        le=60.0,
        description="auto: timed seconds per candidate and batch size, in interleaved rounds.",
    )
    min_speedup: float = Field(
        default=1.05,
        ge=1.0,
        description="auto: an INT8 candidate must be this many times faster than FP32 at every "
        "batch size of auto_batches to be kept.",
    )

    @property
    def accuracy_limit(self) -> float | None:
        """The accuracy points an INT8 file may lose: ``max_accuracy_drop``, 1.0 for auto."""
        if self.max_accuracy_drop is None and self.mode == "auto":
            return 1.0
        return self.max_accuracy_drop
