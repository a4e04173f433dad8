"""The options of the keyword-spotting models: the front-end's, SpecAugment's, each network's.

Pydantic alone: the hook module imports these, and ``compressor plugins`` must stay fast.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, field_validator, model_validator

from compressor.schemas import StrictModel

#: BC-ResNet's width scales (Kim et al. 2021: BC-ResNet-1 ... BC-ResNet-8).
BC_RESNET_SCALES = (1.0, 1.5, 2.0, 3.0, 6.0, 8.0)


class SpecAugmentOptions(StrictModel):
    """SpecAugment's masks, applied to the log-mel spectrogram in training mode only."""

    freq_masks: int = Field(default=2, ge=0, description="Frequency masks per sample.")
    freq_width: int = Field(default=5, ge=1, description="The widest frequency mask, in mel bins.")
    time_masks: int = Field(default=2, ge=0, description="Time masks per sample.")
    time_width: int = Field(default=10, ge=1, description="The widest time mask, in frames.")


class FrontendOptions(StrictModel):
    """What every keyword-spotting model shares: its log-mel front-end and SpecAugment."""

    sample_rate: int = Field(
        default=16000,
        ge=1000,
        description="The waveforms' rate in Hz: the data's (data.preprocess.sample_rate).",
    )
    n_fft: int | None = Field(
        default=None,
        ge=16,
        description="STFT window and FFT size in samples; unset: the power of two nearest "
        "32 ms (512 at 16 kHz, 256 at 8 kHz).",
    )
    hop: int | None = Field(
        default=None, ge=1, description="Samples between STFT frames; unset: n_fft / 2."
    )
    n_mels: int = Field(default=40, ge=8, description="Mel filters (the spectrogram's height).")
    f_min: float = Field(default=20.0, ge=0.0, description="Lowest mel filter edge in Hz.")
    f_max: float | None = Field(
        default=None, gt=0.0, description="Highest mel filter edge in Hz; unset: sample_rate / 2."
    )
    log_offset: float = Field(
        default=1e-6, gt=0.0, description="Added to the mel energies before the log."
    )
    normalize: Literal["utterance", "bin", "none"] = Field(
        default="utterance",
        description="Parameter-free normalization of each log-mel: utterance (zero mean, unit "
        "variance over the whole spectrogram), bin (each mel bin over time), none. "
        "Unnormalized log-spectrograms stall small students.",
    )
    spec_augment: SpecAugmentOptions | None = Field(
        default=None,
        description="SpecAugment time and frequency masks after the front-end, in training "
        "only (absent from exported files); unset: none.",
    )
    channels_last: bool = Field(
        default=True,
        description="Run the network's convolutions in channels-last memory format (faster "
        "depthwise convolutions on CPUs); numerically the same.",
    )

    @model_validator(mode="after")
    def _band_fits(self) -> FrontendOptions:
        top = self.f_max if self.f_max is not None else self.sample_rate / 2
        if not self.f_min < top <= self.sample_rate / 2:
            raise ValueError(
                f"need f_min < f_max <= sample_rate / 2 (got f_min {self.f_min}, f_max {top}, "
                f"sample_rate {self.sample_rate})"
            )
        if self.hop is not None and self.n_fft is not None and self.hop > self.n_fft:
            raise ValueError(f"hop {self.hop} is longer than n_fft {self.n_fft}: samples skipped")
        return self


class DsCnnOptions(FrontendOptions):
    """Options of ``ds_cnn``."""

    size: Literal["S", "M", "L"] = Field(
        default="S",
        description="Hello Edge's DS-CNN size: S (64 channels, 4 blocks), M (172, 4), L (276, 5).",
    )
    channels: int | None = Field(
        default=None, ge=4, description="Channels of every layer; unset: the size's."
    )
    dropout: float = Field(
        default=0.2, ge=0.0, lt=1.0, description="Dropout before the classifier."
    )


class BcResNetOptions(FrontendOptions):
    """Options of ``bc_resnet``."""

    scale: float = Field(
        default=1.0,
        description="Width scale tau of BC-ResNet-tau: 1, 1.5, 2, 3, 6 or 8 (base channels 8 * tau).",
    )
    sub_bands: int = Field(
        default=5,
        ge=1,
        description="SubSpectralNorm's frequency sub-bands (1: plain batch norm); bands that do "
        "not divide a layer's mel height fall back to fewer.",
    )
    dropout: float = Field(
        default=0.1, ge=0.0, lt=1.0, description="Channel dropout in each block's temporal path."
    )

    @field_validator("scale")
    @classmethod
    def _known_scale(cls, value: float) -> float:
        if value not in BC_RESNET_SCALES:
            listed = ", ".join(f"{s:g}" for s in BC_RESNET_SCALES)
            raise ValueError(f"scale {value:g} is not one of BC-ResNet's: {listed}")
        return value


class SpectrogramBackboneOptions(FrontendOptions):
    """Options of ``spectrogram_backbone``."""

    arch: str = Field(
        default="resnet18",
        description="The image classifier run on the 1-channel log-mel: a torchvision.models "
        "name (resnet18, mobilenet_v3_small, ...) or, with source: timm, a timm name.",
    )
    source: Literal["torchvision", "timm"] = Field(
        default="torchvision", description="Where arch comes from: torchvision or timm."
    )
    kwargs: dict[str, Any] = Field(
        default_factory=dict,
        description="More builder arguments (not num_classes, weights or in_chans); random "
        "initialization.",
    )
