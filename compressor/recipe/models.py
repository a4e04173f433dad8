"""The recipe's own fields as pydantic models: what a recipe file may say outside the plugins.

Each plugin validates its own ``options`` with its own schema; these models cover the rest
(``version``, ``name``, ``seed``, ``device``, ``precision``, ``data`` and the shape of each
``stages`` entry). Field descriptions are what error messages and the docs show.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, JsonValue, PrivateAttr

from compressor.schemas import StrictModel

NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.\-]*$"
#: What a recipe error says a name must look like, instead of showing NAME_PATTERN.
NAME_EXPECTED: dict[str, JsonValue] = {
    "expected": "letters, digits, '_', '.' and '-', starting with a letter or digit"
}
DEVICE_PATTERN = r"^(auto|cpu|cuda(:\d+)?|mps)$"
STAGE_KEYS = ("name", "type", "inputs", "outputs")
#: NumPy's seed range; stage seeds are derived from it and must stay within torch's int64.
MAX_SEED = 2**32 - 1


class AugmentConfig(StrictModel):
    """``data.augment``: batch augmentation for every training stage.

    The teacher sees the very same augmented or mixed batch as the student.
    """

    shift: int = Field(
        default=0, ge=0, description="Random translation by up to this many pixels (pad and crop)."
    )
    flip: bool = Field(default=False, description="Random horizontal flips (not for digits).")
    rotate: float = Field(
        default=0.0, ge=0.0, le=180.0, description="Random rotation by up to this many degrees."
    )
    scale: float = Field(
        default=0.0,
        ge=0.0,
        lt=1.0,
        description="Random zoom by a factor in [1 - scale, 1 + scale].",
    )
    elastic: float = Field(
        default=0.0,
        ge=0.0,
        description="Elastic distortion strength alpha, in pixels (Simard et al. 2003; 34 for "
        "28x28 digits); 0 is off.",
    )
    elastic_sigma: float = Field(
        default=4.0, gt=0.0, description="Smoothness of the elastic displacement field, in pixels."
    )
    mixup: float = Field(default=0.0, ge=0.0, description="Mixup Beta(a, a) parameter; 0 is off.")
    cutmix: float = Field(default=0.0, ge=0.0, description="CutMix Beta(a, a) parameter; 0 is off.")
    mix_prob: float = Field(
        default=1.0, ge=0.0, le=1.0, description="Probability that a batch is mixed."
    )


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
    _parsed: BaseModel | None = PrivateAttr(default=None)

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
    data: DataConfig
    stages: list[StageConfig] = Field(min_length=1)
