"""The ``search`` stage's options: the budget, the space, and how the search runs.

pydantic only: importing this must not import torch or optuna. Every numeric knob of the space
is a range (a float or int distribution for optuna), never a list of categories; categories are
kept for what has no order (families, criteria, quantization modes).
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, model_validator

from compressor.recipe import AugmentConfig
from compressor.schemas import ExporterRef, LossTerm, ModelRef, OptimizerConfig, StrictModel

#: The family name that means "the trained teacher itself, pruned" (its weights are kept).
TEACHER = "teacher"
#: The family name that means "the stage's own ``model:``" (the recipe's student).
STUDENT = "student"
#: Quantization modes a candidate may be deployed in.
QuantMode = Literal["fp32", "dynamic", "static"]
#: The cost constraints (besides the metric ones) a budget may set.
COST_CONSTRAINTS = ("latency_ms", "latency_vs_floor", "size_bytes", "macs", "params")


class FloatRange(StrictModel):
    """A float knob: optuna samples it between ``low`` and ``high`` (on a log scale with
    ``log``)."""

    low: float = Field(description="Smallest value.")
    high: float = Field(description="Largest value (equal to low: the knob is fixed).")
    log: bool = Field(default=False, description="Sample on a log scale.")

    @model_validator(mode="after")
    def _ordered(self) -> FloatRange:
        if self.low > self.high:
            raise ValueError(f"low {self.low:g} is above high {self.high:g}: no value fits")
        if self.log and self.low <= 0:
            raise ValueError(f"log: true needs low > 0, got {self.low:g}")
        return self


class IntRange(StrictModel):
    """An integer knob: optuna samples it between ``low`` and ``high`` inclusive."""

    low: int = Field(description="Smallest value.")
    high: int = Field(description="Largest value (equal to low: the knob is fixed).")

    @model_validator(mode="after")
    def _ordered(self) -> IntRange:
        if self.low > self.high:
            raise ValueError(f"low {self.low} is above high {self.high}: no value fits")
        return self


class Budget(StrictModel):
    """What the winner must meet. Give at least one cost (latency, size, MACs, parameters);
    the metric constraints compare the task's metric (accuracy, mAP, ...) on the validation
    split, in its own units (0.01 is one point of a fraction such as accuracy)."""

    latency_ms: float | None = Field(
        default=None,
        gt=0.0,
        description="p50 latency of the deployed file in onnxruntime on this machine, at batch "
        "and threads, in milliseconds; the winner's slowest round must meet it.",
    )
    latency_vs_floor: float | None = Field(
        default=None,
        ge=1.0,
        description="p50 latency as a multiple of onnxruntime's per-call floor (an Identity "
        "model timed beside each candidate): 1.5 is at most 1.5x the floor.",
    )
    batch: int = Field(default=1, ge=1, description="Batch size the latency is measured at.")
    threads: int = Field(default=1, ge=1, description="onnxruntime intra-op threads.")
    size_bytes: int | None = Field(
        default=None, gt=0, description="Size of the deployed file (FP32 or INT8), in bytes."
    )
    macs: int | None = Field(
        default=None, gt=0, description="Multiply-accumulates per sample (PyTorch count)."
    )
    params: int | None = Field(default=None, gt=0, description="Parameters of the model.")
    min_metric: float | None = Field(
        default=None,
        description="The task's metric on the validation split must be at least this (e.g. "
        "0.95 accuracy); checked on the finalists, after full training, in onnxruntime.",
    )
    max_metric_drop: float | None = Field(
        default=None,
        ge=0.0,
        description="The metric may lose at most this much against the teacher's on the "
        "validation split (0.01: one point of accuracy).",
    )

    @model_validator(mode="after")
    def _some_cost(self) -> Budget:
        if all(getattr(self, name) is None for name in COST_CONSTRAINTS):
            raise ValueError(
                "give at least one cost to compress to: " + ", ".join(COST_CONSTRAINTS)
            )
        return self

    def given(self) -> dict[str, float]:
        """The constraints this budget sets, by name, in a fixed order."""
        names = (*COST_CONSTRAINTS, "min_metric", "max_metric_drop")
        return {n: float(getattr(self, n)) for n in names if getattr(self, n) is not None}


Family = Annotated[
    str | ModelRef,
    Field(
        description="'teacher' (the trained teacher, pruned), 'student' (the stage's model:), "
        "or a model entry {name: ..., options: {...}}."
    ),
]


def _every_mode() -> list[QuantMode]:
    return ["fp32", "dynamic", "static"]


def _default_width() -> FloatRange:
    return FloatRange(low=0.1, high=1.0, log=True)


class Space(StrictModel):
    """What may vary between candidates. Every knob has a default; a fixed range fixes it."""

    families: list[Family] | None = Field(
        default=None,
        description="Student families: 'teacher' (prune the trained teacher), 'student' (the "
        "stage's model:, distilled) or model entries (default: teacher, and student when "
        "the stage has a model).",
    )
    width: FloatRange = Field(
        default_factory=_default_width,
        description="Fraction of channels of every prunable layer a distilled family is built "
        "with (its classifier kept whole), as a model entry's width:.",
    )
    depth: IntRange | None = Field(
        default_factory=lambda: IntRange(low=1, high=2),
        description="Layers of a family whose builder has a per-layer list (seed_mlp hidden, "
        "seed_cnn channels): the first N entries, the last repeated (0: none, where the builder "
        "allows it: seed_mlp is then logistic regression); null keeps its own.",
    )
    prune_ratio: FloatRange = Field(
        default_factory=lambda: FloatRange(low=0.3, high=0.95),
        description="Fraction of channels removed from the trained teacher (family teacher).",
    )
    criteria: list[str] = Field(
        default_factory=lambda: ["magnitude", "fpgm"],
        min_length=1,
        description="Pruning criteria (registered pruners) the teacher family is pruned with.",
    )
    round_to: IntRange = Field(
        default_factory=lambda: IntRange(low=1, high=8),
        description="Channel counts after pruning are multiples of a power of two between low "
        "and high (sampled as its exponent); 1 leaves them as they fall.",
    )
    quantization: list[QuantMode] = Field(
        default_factory=_every_mode,
        min_length=1,
        description="How the candidate is deployed: fp32, dynamic INT8 or static INT8 (QDQ, "
        "calibrated on training batches).",
    )
    epochs: IntRange = Field(
        default_factory=lambda: IntRange(low=10, high=30),
        description="Epochs of full distillation a finalist gets (screening uses "
        "screening.short_epochs).",
    )

    @model_validator(mode="after")
    def _has_candidates(self) -> Space:
        if self.families is not None and not self.families:
            raise ValueError("families: the list is empty, so there is no candidate")
        if not 0.0 < self.width.low <= self.width.high <= 1.0:
            raise ValueError(f"width: {self.width.low:g}..{self.width.high:g} must lie in (0, 1]")
        if not 0.0 <= self.prune_ratio.low <= self.prune_ratio.high < 1.0:
            raise ValueError(
                f"prune_ratio: {self.prune_ratio.low:g}..{self.prune_ratio.high:g} must lie "
                "in [0, 1): pruning every channel leaves no model"
            )
        if self.depth is not None and self.depth.low < 0:
            raise ValueError(f"depth: low {self.depth.low} must be at least 0")
        if self.epochs.low < 0:
            raise ValueError(f"epochs: low {self.epochs.low} must be at least 0")
        for end in ("low", "high"):
            value = getattr(self.round_to, end)
            if value < 1 or value & (value - 1):
                raise ValueError(
                    f"round_to: {end} {value} is not a power of two (1, 2, 4, 8, 16, ...)"
                )
        for name in ("quantization", "criteria"):
            values = getattr(self, name)
            if len(set(values)) != len(values):
                raise ValueError(f"{name}: {values} names a choice twice")
        return self


class Screening(StrictModel):
    """How candidates are screened before the few best get full training."""

    val_samples: int = Field(
        default=512,
        ge=2,
        description="Validation samples the zero-shot and short fine-tune scores use.",
    )
    train_samples: int | None = Field(
        default=None, ge=2, description="Training samples of the short fine-tune (default: all)."
    )
    short_epochs: int = Field(
        default=2,
        ge=1,
        description="Epochs of the short distillation every promoted candidate gets.",
    )
    promote_top: int = Field(
        default=3,
        ge=1,
        description="A candidate goes on to the next, dearer rung unless this many earlier ones "
        "beat it there (as fast or faster and scoring at least as well).",
    )
    finalists: int = Field(
        default=3,
        ge=1,
        description="Candidates of the Pareto front given full distillation, INT8 and an "
        "onnxruntime evaluation.",
    )
    bn_batches: int = Field(
        default=10, ge=1, description="Training batches BatchNorm statistics are recomputed on."
    )
    calibration_batches: int = Field(
        default=4, ge=1, description="Training batches static INT8 is calibrated on."
    )


class Timing(StrictModel):
    """How candidates' latency is measured: interleaved with the per-call floor, in rounds."""

    rounds: int = Field(default=5, ge=2, description="Interleaved rounds (the spread needs 2).")
    seconds: float = Field(
        default=0.25, gt=0.0, le=60.0, description="Timed seconds per candidate, over all rounds."
    )
    warmup: int = Field(default=5, ge=0, description="Untimed calls first.")
    host: str | None = Field(
        default=None,
        description="The machine latency is measured on, by its hostname (default: the one the "
        "stage runs on); a worker started there with role latency measures for every worker.",
    )
    wait_seconds: float = Field(
        default=300.0,
        gt=0.0,
        description="How long a worker that does not time waits for the designated latency "
        "worker's answer.",
    )


def _default_losses() -> list[LossTerm]:
    return [
        LossTerm(name="kd", weight=0.9, options={"temperature": 4.0}),
        LossTerm(name="ce", weight=0.1),
    ]


class SearchOptions(StrictModel):
    """``search``: the student that best meets a budget, found with optuna.

    Give a ``budget``; everything else has a default. ``trials`` and ``time_budget`` bound the
    search (the first reached stops it).
    """

    model: ModelRef | None = Field(
        default=None,
        description="The recipe's own student: family 'student', and the first point tried.",
    )
    budget: Budget = Field(description="The constraints the winner must meet.")
    space: Space = Field(default_factory=Space, description="What may vary.")
    trials: int | None = Field(
        default=None, ge=1, description="Trials to complete (default 30 without time_budget)."
    )
    time_budget: float | None = Field(
        default=None, gt=0.0, description="Seconds of trials at most, then the finalists."
    )
    sampler: Literal["nsga2", "tpe", "random"] = Field(
        default="nsga2",
        description="optuna sampler: NSGA-II or TPE (multi-objective, with constraints), or "
        "random search (the baseline).",
    )
    seed_points: bool = Field(
        default=True,
        description="Enqueue known-good points first: the stage's model, uniform widths, a "
        "half-pruned teacher.",
    )
    storage: str | None = Field(
        default=None,
        description="Where the study lives: an RDB URL (sqlite:///study.db, "
        "postgresql://host/db) or a .journal file several workers can reach (default: "
        "NAME/study.journal in the run folder).",
    )
    study: str | None = Field(default=None, description="The study's name (default: RECIPE-STAGE).")
    screening: Screening = Field(
        default_factory=Screening,
        description="How candidates are screened (zero-shot, short distillation) and how many "
        "finalists get full training.",
    )
    timing: Timing = Field(
        default_factory=Timing,
        description="How latency is measured, on which machine, and how long workers wait for it.",
    )
    losses: list[LossTerm] = Field(
        default_factory=_default_losses,
        min_length=1,
        description="Distillation loss of the short and full training (default: kd x 0.9 + ce x "
        "0.1).",
    )
    optimizer: OptimizerConfig = Field(
        default_factory=OptimizerConfig, description="Optimizer of the short and full training."
    )
    augment: AugmentConfig | None = Field(
        default=None,
        description="The finalists' full distillation's augmentation, instead of data.augment "
        "(screening never augments); {} turns it off, e.g. for a student too small to gain "
        "from the teacher's shifts and mixup.",
    )
    exporter: ExporterRef = Field(
        default_factory=lambda: ExporterRef(name="onnx", options={"dynamo": "off"}),
        description="How candidates are exported to be timed and deployed.",
    )
    importance_after: int = Field(
        default=8, ge=2, description="Complete trials needed before parameter importances."
    )

    @model_validator(mode="after")
    def _bounded(self) -> SearchOptions:
        if self.trials is None and self.time_budget is None:
            self.trials = 30
        if self.storage is not None and not _storage_form(self.storage):
            raise ValueError(
                f"storage: {self.storage!r} is neither an RDB URL (sqlite:///study.db, "
                "postgresql://user@host/db) nor a .journal file"
            )
        return self


def _storage_form(value: str) -> bool:
    """Whether ``value`` names storage the study can live in: an RDB URL or a journal file."""
    return "://" in value or value.endswith(".journal")
