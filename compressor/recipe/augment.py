"""``data.augment``: the recipe's augmentation settings, batch and per sample.

Batch augmentation (``shift`` to ``mix_prob``) runs in :mod:`compressor.training.augment`;
per-sample augmentation (``random_resized_crop``, ``color_jitter``, ``rand_augment``,
``trivial_augment``) in :mod:`compressor.training.sample_augment`. See docs/data.md.
"""

from __future__ import annotations

import math
from typing import Any

from pydantic import ConfigDict, Field, PrivateAttr, field_validator

from compressor.errors import describe_value
from compressor.schemas import StrictModel


def _range(value: list[float], low: float, high: float, what: str) -> list[float]:
    """``value`` as ``[min, max]`` within ``[low, high]``, or a one-line error saying so."""
    if len(value) != 2 or not low <= value[0] <= value[1] <= high:
        raise ValueError(
            f"invalid value {describe_value(value)}: expected [min, max] with "
            f"{low:g} <= min <= max <= {high:g} ({what})"
        )
    return value


class RandomResizedCropConfig(StrictModel):
    """``data.augment.random_resized_crop``: torchvision's ``RandomResizedCrop``, per sample."""

    scale: list[float] = Field(
        default=[0.08, 1.0],
        description="[min, max] fraction of the image's area the crop covers (0 < min <= max <= 1).",
    )
    ratio: list[float] = Field(
        default=[0.75, 1.3333333333333333],
        description="[min, max] aspect ratio (width / height) of the crop.",
    )
    size: int | list[int] | None = Field(
        default=None,
        description="Output size: one number or [height, width]; default: the input size.",
    )

    @field_validator("scale")
    @classmethod
    def _scale(cls, value: list[float]) -> list[float]:
        if value and value[0] <= 0:
            raise ValueError(
                f"invalid value {describe_value(value)}: the smallest crop must cover more than "
                "0 of the image"
            )
        return _range(value, 0.0, 1.0, "fractions of the image's area")

    @field_validator("ratio")
    @classmethod
    def _ratio(cls, value: list[float]) -> list[float]:
        if value and value[0] <= 0:
            raise ValueError(f"invalid value {describe_value(value)}: ratios must be > 0")
        return _range(value, 0.0, math.inf, "width / height")

    @field_validator("size")
    @classmethod
    def _size(cls, value: int | list[int] | None) -> int | list[int] | None:
        sizes = [value] if isinstance(value, int) else value or []
        if (value is not None and not sizes) or len(sizes) > 2 or any(v <= 0 for v in sizes):
            raise ValueError(
                f"invalid value {describe_value(value)}: expected a positive size in pixels or "
                "[height, width]"
            )
        return value


class ColorJitterConfig(StrictModel):
    """``data.augment.color_jitter``: torchvision's ``ColorJitter``, per sample.

    Each factor is drawn from ``[max(0, 1 - v), 1 + v]``; hue is shifted by up to ``hue``.
    """

    brightness: float = Field(default=0.0, ge=0.0, description="Brightness jitter; 0 is off.")
    contrast: float = Field(default=0.0, ge=0.0, description="Contrast jitter; 0 is off.")
    saturation: float = Field(default=0.0, ge=0.0, description="Saturation jitter; 0 is off.")
    hue: float = Field(
        default=0.0, ge=0.0, le=0.5, description="Hue shift, a fraction of the circle (<= 0.5)."
    )


class RandAugmentConfig(StrictModel):
    """``data.augment.rand_augment``: torchvision's ``RandAugment``, per sample."""

    num_ops: int = Field(default=2, ge=1, le=14, description="Operations applied to each image.")
    magnitude: int = Field(
        default=9, ge=0, le=30, description="Strength of every operation, 0..30."
    )


class AugmentConfig(StrictModel):
    """``data.augment``: augmentation for every training stage.

    ``shift`` to ``mix_prob`` transform whole batches on the training device;
    ``random_resized_crop``, ``color_jitter``, ``rand_augment`` and ``trivial_augment`` transform
    each sample (torchvision.transforms.v2), in the data loader's workers on a streamed split.
    The teacher sees the very same augmented or mixed batch as the student.

    A task may add per-sample keys of its own (detection: ``horizontal_flip``,
    ``scale_jitter``, ``iou_crop``, ``photometric``, which move the boxes with the pixels):
    they are kept here as extra keys and validated by the task's schema when the recipe is
    resolved (:attr:`compressor.task.Task.augment_options`); a key no schema knows is an error
    listing the valid ones.
    """

    # Extra keys are the task's (validated when the task is known); see the docstring.
    model_config = ConfigDict(extra="allow")
    _task_options: Any = PrivateAttr(default=None)

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
    random_resized_crop: RandomResizedCropConfig | None = Field(
        default=None,
        description="Per sample: crop a random area and aspect ratio, resized to the input size "
        "(torchvision RandomResizedCrop); true for the defaults.",
    )
    color_jitter: ColorJitterConfig | None = Field(
        default=None,
        description="Per sample: random brightness, contrast, saturation and hue "
        "(torchvision ColorJitter).",
    )
    rand_augment: RandAugmentConfig | None = Field(
        default=None,
        description="Per sample: RandAugment (Cubuk et al. 2020): num_ops random operations of "
        "one magnitude; true for the defaults.",
    )
    trivial_augment: bool = Field(
        default=False,
        description="Per sample: TrivialAugment (Muller and Hutter 2021): one random operation "
        "of a random magnitude.",
    )
    time_shift: float = Field(
        default=0.0,
        ge=0.0,
        le=0.5,
        description="Audio, per clip: shift by up to this fraction of its length, either way, "
        "filling with zeros (0: no shift).",
    )
    gain_db: tuple[float, float] | None = Field(
        default=None,
        description="Audio, per clip: scale by a gain drawn uniformly from [low, high] dB, e.g. "
        "[-6, 6]; unset: none.",
    )
    noise_root: str | None = Field(
        default=None,
        description="Audio, per clip: a folder of background-noise clips (WAV, FLAC, OGG, at "
        "any depth; Speech Commands' _background_noise_); a random stretch of one is mixed in.",
    )
    snr_db: tuple[float, float] = Field(
        default=(5.0, 20.0),
        description="Audio, with noise_root: the signal-to-noise ratio drawn uniformly from "
        "[low, high] dB, over the whole clip.",
    )
    noise_probability: float = Field(
        default=0.8,
        ge=0.0,
        le=1.0,
        description="Audio, with noise_root: the fraction of clips that get noise.",
    )

    @field_validator("gain_db", "snr_db")
    @classmethod
    def _ordered(cls, value: tuple[float, float] | None) -> tuple[float, float] | None:
        if value is not None and value[0] > value[1]:
            raise ValueError(f"[low, high] must have low <= high, got {list(value)}")
        return value

    @field_validator("random_resized_crop", "rand_augment", mode="before")
    @classmethod
    def _true_is_defaults(cls, value: Any) -> Any:
        return {} if value is True else None if value is False else value

    def batch_keys(self) -> list[str]:
        """The batch augmentation keys that are on (``shift`` to ``cutmix``)."""
        on = {
            "shift": self.shift > 0,
            "flip": self.flip,
            "rotate": self.rotate > 0,
            "scale": self.scale > 0,
            "elastic": self.elastic > 0,
            "mixup": self.mixup > 0,
            "cutmix": self.cutmix > 0,
        }
        return [key for key, active in on.items() if active]

    @property
    def per_sample(self) -> bool:
        """Whether any per-sample (torchvision) augmentation of these keys is on (the task's
        own keys aside)."""
        return (
            bool(self.random_resized_crop or self.color_jitter or self.rand_augment)
            or self.trivial_augment
        )

    def per_sample_keys(self) -> list[str]:
        """The per-sample keys of this schema that are on."""
        on = {
            "random_resized_crop": self.random_resized_crop is not None,
            "color_jitter": self.color_jitter is not None,
            "rand_augment": self.rand_augment is not None,
            "trivial_augment": self.trivial_augment,
        }
        return [key for key, active in on.items() if active]

    def audio_keys(self) -> list[str]:
        """The audio keys that are on (they apply to audio clips only)."""
        on = {
            "time_shift": self.time_shift > 0,
            "gain_db": self.gain_db is not None,
            "noise_root": self.noise_root is not None,
        }
        return [key for key, active in on.items() if active]

    @property
    def audio(self) -> bool:
        """Whether any audio augmentation is on."""
        return bool(self.audio_keys())

    @property
    def task_keys(self) -> dict[str, Any]:
        """The keys the task validates (those this schema does not know), as given."""
        return dict(self.model_extra or {})

    @property
    def task_options(self) -> Any:
        """The task's keys validated by its schema (set when the recipe is resolved), or
        ``None`` when the recipe gave none."""
        return self._task_options
