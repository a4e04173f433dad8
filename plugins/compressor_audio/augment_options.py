"""``AudioAugmentConfig``: the per-sample waveform augmentation's settings (pydantic alone)."""

from __future__ import annotations

from pydantic import Field, field_validator

from compressor.schemas import StrictModel


class AudioAugmentConfig(StrictModel):
    """Per-sample augmentation of training waveforms, in this order: time shift, background
    noise, gain. Each sample's draws are seeded by ``(seed, epoch, index)``."""

    time_shift: float = Field(
        default=0.0,
        ge=0.0,
        le=0.5,
        description="Shift each clip by up to this fraction of its length, either way, "
        "filling with zeros (0: no shift).",
    )
    gain_db: tuple[float, float] | None = Field(
        default=None,
        description="Scale each clip by a gain drawn uniformly from [low, high] dB, e.g. "
        "[-6, 6]; unset: none.",
    )
    noise_root: str | None = Field(
        default=None,
        description="A folder of background-noise clips (WAV, FLAC, OGG, at any depth; Speech "
        "Commands' _background_noise_); a random stretch of one is mixed into each clip.",
    )
    snr_db: tuple[float, float] = Field(
        default=(5.0, 20.0),
        description="With noise_root: the signal-to-noise ratio drawn uniformly from "
        "[low, high] dB, over the whole clip.",
    )
    noise_probability: float = Field(
        default=0.8,
        ge=0.0,
        le=1.0,
        description="With noise_root: the fraction of clips that get noise.",
    )

    @field_validator("gain_db", "snr_db")
    @classmethod
    def _ordered(cls, value: tuple[float, float] | None) -> tuple[float, float] | None:
        if value is not None and value[0] > value[1]:
            raise ValueError(f"[low, high] must have low <= high, got {list(value)}")
        return value

    @property
    def active(self) -> bool:
        """Whether any augmentation is configured."""
        return self.time_shift > 0.0 or self.gain_db is not None or self.noise_root is not None
