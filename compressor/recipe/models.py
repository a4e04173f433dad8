"""The recipe's own fields as pydantic models: what a recipe file may say outside the plugins.

Each plugin validates its own ``options`` with its own schema; these models cover the rest
(``version``, ``name``, ``seed``, ``device``, ``precision``, ``data`` and the shape of each
``stages`` entry). Field descriptions are what error messages and the docs show.
"""

from __future__ import annotations

import math
import re
from typing import Any, ClassVar, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    JsonValue,
    PrivateAttr,
    ValidationInfo,
    field_validator,
    model_validator,
)

from compressor.errors import describe_value
from compressor.recipe.augment import AugmentConfig
from compressor.schemas import StrictModel, TaskRef

NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.\-]*$"
#: What a recipe error says a name must look like, instead of showing NAME_PATTERN.
NAME_EXPECTED: dict[str, JsonValue] = {
    "expected": "letters, digits, '_', '.' and '-', starting with a letter or digit"
}
DEVICE_PATTERN = r"^(auto|cpu|cuda(:\d+)?|mps)$"
STAGE_KEYS = ("name", "type", "inputs", "outputs")
#: NumPy's seed range; stage seeds are derived from it and must stay within torch's int64.
MAX_SEED = 2**32 - 1


def _image_size(value: Any) -> Any:
    """``resize``/``center_crop``: one positive int, or ``[height, width]``."""
    ok = (isinstance(value, int) and not isinstance(value, bool) and value > 0) or (
        isinstance(value, list)
        and len(value) == 2
        and all(isinstance(v, int) and not isinstance(v, bool) and v > 0 for v in value)
    )
    if value is not None and not ok:
        raise ValueError(
            f"invalid value {describe_value(value)}: expected a positive size in pixels or "
            "[height, width]"
        )
    return value


class PreprocessConfig(StrictModel):
    """``data.preprocess``: the deterministic steps from a raw sample to the model's input.

    Applied to datasets that give samples, in training, evaluation and at deployment alike. For
    images: resize, center crop, scale to 0..1, normalize (docs/data.md). For audio clips:
    downmix, resample to ``sample_rate``, crop or pad to ``clip_seconds`` (docs/speech.md). The
    keys of the other modality are refused when the data is loaded.
    """

    #: The keys that apply to audio clips; the others apply to images.
    AUDIO_KEYS: ClassVar[tuple[str, ...]] = ("sample_rate", "clip_seconds", "crop", "pad")

    resize: int | list[int] | None = Field(
        default=None,
        description="Resize: one number for the shorter side (keeping the aspect ratio), or "
        "[height, width].",
    )
    interpolation: Literal["nearest", "bilinear", "bicubic"] = Field(
        default="bilinear", description="How resize interpolates: nearest, bilinear, bicubic."
    )
    center_crop: int | list[int] | None = Field(
        default=None, description="Crop the center to this size: one number, or [height, width]."
    )
    mean: list[float] | Literal["auto"] | None = Field(
        default=None,
        description="Per-channel mean to subtract (0..1 scale), or auto: computed from 1,000 "
        "training samples. Default: the dataset's own, else none.",
    )
    std: list[float] | Literal["auto"] | None = Field(
        default=None, description="Per-channel standard deviation to divide by, or auto."
    )
    from_weights: str | None = Field(
        default=None,
        pattern=NAME_PATTERN,
        json_schema_extra=NAME_EXPECTED,
        description="A stage whose model has named pretrained weights (weights: DEFAULT, a "
        "timm model): the fields not given here (resize, center_crop, interpolation, mean, "
        "std) come from how those weights' inputs were prepared.",
    )
    sample_rate: int | None = Field(
        default=None,
        ge=1000,
        le=384000,
        description="Audio: the rate the model hears, in Hz; clips at other rates are "
        "resampled (soxr). Default: the dataset's (its most common rate).",
    )
    clip_seconds: float | None = Field(
        default=None,
        gt=0.0,
        le=600.0,
        description="Audio: every clip cropped or zero-padded to this length. Default: the "
        "dataset's (1 s).",
    )
    crop: Literal["center", "start"] | None = Field(
        default=None,
        description="Audio: the part of a longer clip kept: center or start. Default: center.",
    )
    pad: Literal["end", "both"] | None = Field(
        default=None,
        description="Audio: where a shorter clip gets its zeros: end or both sides. Default: end.",
    )

    def given(self, keys: tuple[str, ...]) -> list[str]:
        """Which of ``keys`` the recipe set (for the modality check)."""
        return [k for k in keys if k in self.model_fields_set and getattr(self, k) is not None]

    @property
    def image_keys(self) -> tuple[str, ...]:
        """The keys that apply to images."""
        return tuple(k for k in type(self).model_fields if k not in self.AUDIO_KEYS)

    @field_validator("resize", "center_crop", mode="before")
    @classmethod
    def _sizes(cls, value: Any) -> Any:
        return _image_size(value)

    @field_validator("mean", "std", mode="before")
    @classmethod
    def _stats(cls, value: Any, info: ValidationInfo) -> Any:
        if value is None or value == "auto":
            return value
        numbers = (
            isinstance(value, list)
            and value
            and all(
                isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v)
                for v in value
            )
        )
        if not numbers or (info.field_name == "std" and min(value) <= 0):
            what = "positive numbers" if info.field_name == "std" else "numbers"
            raise ValueError(
                f"invalid value {describe_value(value)}: expected auto or a list of {what}, "
                "one per channel (or one for all)"
            )
        return value

    @model_validator(mode="after")
    def _consistent(self) -> PreprocessConfig:
        if (self.mean is None) != (self.std is None) or (self.mean == "auto") != (
            self.std == "auto"
        ):
            raise ValueError(
                f"mean {describe_value(self.mean)} and std {describe_value(self.std)}: give "
                "both as lists, both auto, or neither"
            )
        mean, std = self.mean, self.std
        if isinstance(mean, list) and isinstance(std, list) and len(mean) != len(std):
            raise ValueError(f"mean has {len(mean)} values and std {len(std)}; give as many")
        crop, size = self.center_crop, self.resize
        if crop is not None and size is not None:
            crop_hw = [crop, crop] if isinstance(crop, int) else crop
            smallest = [size, size] if isinstance(size, int) else size
            if any(c > s for c, s in zip(crop_hw, smallest, strict=True)):
                raise ValueError(
                    f"center_crop {describe_value(crop)} is larger than resize "
                    f"{describe_value(size)}; crop at most the resized size"
                )
        return self


#: data.memory_budget's units: kB/MB/GB/TB are powers of 1000; KiB/MiB/GiB/TiB and the bare
#: K/M/G/T powers of 1024 (as ``docker --shm-size 2g``).
MEMORY_UNITS = {
    "": 1,
    "b": 1,
    "kb": 1000,
    "mb": 1000**2,
    "gb": 1000**3,
    "tb": 1000**4,
    **{f"{p}{s}": 1 << (10 * (i + 1)) for i, p in enumerate("kmgt") for s in ("", "ib")},
}
_SIZE = re.compile(r"(\d+(?:\.\d+)?)\s*([a-z]*)")


def parse_size(value: Any) -> int:
    """Bytes from ``2GiB``, ``512MB``, ``1.5G`` or a number of bytes (case does not matter).

    Raises:
        ValueError: Not a size; the message says what one looks like.
    """
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        return value
    match = _SIZE.fullmatch(value.strip().lower()) if isinstance(value, str) else None
    if match is None or match.group(2) not in MEMORY_UNITS:
        raise ValueError(
            f"invalid value {describe_value(value)}: expected auto or a size such as 2GiB, "
            "512MB, 1.5G or 1000000 (bytes)"
        )
    return int(float(match.group(1)) * MEMORY_UNITS[match.group(2)])


class DataConfig(StrictModel):
    """``data:``: the dataset every stage trains and evaluates on."""

    dataset: str = Field(description="A registered dataset name (see `compressor plugins`).")
    options: dict[str, Any] = Field(default_factory=dict, description="The dataset's options.")
    batch_size: int = Field(default=64, ge=1, description="Training batch size.")
    eval_batch_size: int = Field(default=512, ge=1, description="Inference batch size.")
    split_seed: int = Field(
        default=0,
        ge=0,
        le=MAX_SEED,
        description="Seeds the train/val/test split; fixed so runs compare fairly.",
    )
    augment: AugmentConfig | None = Field(
        default=None, description="Batch augmentation for training stages (none by default)."
    )
    in_memory: bool | Literal["auto"] = Field(
        default="auto",
        description="auto: hold the splits in memory when their decoded size fits "
        "memory_budget, else stream them through DataLoader workers; true or false forces it.",
    )
    memory_budget: int | Literal["auto"] = Field(
        default="auto",
        description="The most decoded data in_memory: auto holds in memory: bytes, or a size "
        "such as 2GiB or 512MB (resolved to bytes); auto: a quarter of the machine's memory, "
        "at most 4 GiB.",
    )
    num_workers: int | Literal["auto"] = Field(
        default="auto",
        description="DataLoader worker processes per streamed split (0: the main process); "
        "auto: one core left to training, at most 4.",
    )
    preprocess: PreprocessConfig | None = Field(
        default=None,
        description="Resize, center crop and normalization of datasets that give samples.",
    )
    _parsed: BaseModel | None = PrivateAttr(default=None)

    @field_validator("in_memory", mode="before")
    @classmethod
    def _in_memory(cls, value: Any) -> Any:
        if value == "auto" or isinstance(value, bool):
            return value
        raise ValueError(f"invalid value {describe_value(value)}: expected auto, true or false")

    @field_validator("memory_budget", mode="before")
    @classmethod
    def _memory_budget(cls, value: Any) -> Any:
        return value if value == "auto" else parse_size(value)

    @field_validator("num_workers", mode="before")
    @classmethod
    def _num_workers(cls, value: Any) -> Any:
        if value == "auto" or (
            isinstance(value, int) and not isinstance(value, bool) and value >= 0
        ):
            return value
        raise ValueError(
            f"invalid value {describe_value(value)}: expected auto or a number of worker "
            "processes, 0 or more (0 loads in the main process)"
        )

    @property
    def parsed(self) -> Any:
        """The dataset options validated by the dataset plugin's schema."""
        return self._parsed


class StageConfig(BaseModel):
    """One entry of ``stages:``. Keys other than name/type/inputs/outputs are the stage's options."""

    model_config = ConfigDict(extra="allow")

    name: str | None = Field(default=None, pattern=NAME_PATTERN, json_schema_extra=NAME_EXPECTED)
    type: str
    inputs: dict[str, str | list[str]] = Field(default_factory=dict)
    outputs: dict[str, str | list[str]] = Field(default_factory=dict)

    @property
    def options(self) -> dict[str, Any]:
        """The stage-specific keys, to be validated by the stage plugin."""
        return dict(self.model_extra or {})


class Recipe(StrictModel):
    """A whole recipe (``version: 1``)."""

    version: Literal[1] = Field(description="The recipe format version.")
    name: str = Field(
        pattern=NAME_PATTERN, json_schema_extra=NAME_EXPECTED, description="Names the run folder."
    )
    description: str = ""
    seed: int = Field(
        default=0, ge=0, le=MAX_SEED, description="Seeds every random number generator."
    )
    device: str = Field(
        default="auto",
        pattern=DEVICE_PATTERN,
        json_schema_extra={"expected": "auto, cpu, cuda, cuda:N (a GPU index) or mps"},
        description="auto (CUDA when present), cpu, cuda, cuda:N, mps",
    )
    precision: Literal["fp32", "bf16"] = Field(
        default="fp32",
        description="fp32, or bf16: training forward passes and losses under bfloat16 autocast "
        "(for GPUs with bf16; correct but slow on CPU)",
    )
    task: TaskRef | None = Field(
        default=None,
        description="What the model predicts and how it is scored: a registered task "
        "(classification, detection) or {name, options}; default: the dataset's own task.",
    )
    data: DataConfig
    stages: list[StageConfig] = Field(min_length=1)
