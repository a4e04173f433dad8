"""What every keyword-spotting model is: ``frontend`` (log-mel), ``spec_augment``, ``network``.

:class:`KeywordSpotter` holds the three parts under those attribute names: the ONNX exporter
names the front-end's nodes ``/frontend/...``, which the INT8 quantizer leaves in float, and
the pruner finds nothing to prune in it (it has no parameters). The network sees the log-mel
as a 1-channel image ``(N, 1, n_mels, frames)``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch
from torch import nn

from compressor.errors import UsageError
from compressor_audio.frontend import LogMel, SpecAugment

if TYPE_CHECKING:
    from compressor_audio.options import FrontendOptions


class KeywordSpotter(nn.Module):
    """Waveforms ``(N, samples)`` in, class logits ``(N, num_classes)`` out.

    Args:
        frontend: The log-mel front-end.
        network: Takes ``(N, 1, n_mels, frames)``, returns logits.
        spec_augment: Masks the spectrogram while training; ``None``: nothing.
        channels_last: Hand the network its input in channels-last memory format (the
            factories also convert the network's weights): depthwise convolutions run about
            twice as fast so on CPUs.
    """

    #: Modules an exported file keeps in float under INT8: the STFT's products and the log
    #: have ranges no 8-bit scale covers (read by the export stage: keep_float).
    float_modules = ("frontend",)

    def __init__(
        self,
        frontend: LogMel,
        network: nn.Module,
        spec_augment: SpecAugment | None = None,
        *,
        channels_last: bool = True,
    ) -> None:
        super().__init__()
        self.frontend = frontend
        self.spec_augment = spec_augment if spec_augment is not None else nn.Identity()
        self.network = network
        self.channels_last = channels_last
        if channels_last:
            self.network.to(memory_format=torch.channels_last)

    def forward(self, wave: torch.Tensor) -> torch.Tensor:
        """Logits for ``wave`` ``(N, samples)``."""
        return self.classify(self.frontend(wave))

    def classify(self, features: torch.Tensor) -> torch.Tensor:
        """Logits for log-mels ``(N, n_mels, frames)`` the front-end made: everything after
        it (SpecAugment while training, the network). The front-end has no parameters, so
        training on features it made once trains the same model as on waveforms."""
        image = self.spec_augment(features).unsqueeze(1)
        if self.channels_last:
            image = image.contiguous(memory_format=torch.channels_last)
        logits: torch.Tensor = self.network(image)
        return logits


def waveform_samples(input_shape: tuple[int, ...], model: str) -> int:
    """The clip length of ``input_shape``, which must be ``(samples,)``.

    Raises:
        UsageError: The data's inputs are not waveforms.
    """
    if len(input_shape) != 1:
        raise UsageError(
            f"{model} takes waveforms shaped (samples,), got inputs shaped "
            f"{tuple(input_shape)}; use an audio dataset (audio_folder, speech_commands, "
            "spoken_digits)"
        )
    return int(input_shape[0])


def build_frontend(options: FrontendOptions, samples: int, model: str) -> LogMel:
    """The :class:`LogMel` ``options`` describe, checked to give frames for ``samples``.

    Raises:
        UsageError: The clip is shorter than one STFT window.
    """
    frontend = LogMel(
        sample_rate=options.sample_rate,
        n_fft=options.n_fft,
        hop=options.hop,
        n_mels=options.n_mels,
        f_min=options.f_min,
        f_max=options.f_max,
        log_offset=options.log_offset,
        normalize=options.normalize,
    )
    if frontend.frames(samples) < 1:
        raise UsageError(
            f"{model}: clips of {samples} samples are shorter than one STFT window "
            f"(n_fft {frontend.n_fft}); lengthen data.preprocess.clip_seconds or lower n_fft"
        )
    return frontend


def build_spec_augment(options: FrontendOptions) -> SpecAugment | None:
    """The SpecAugment module ``options.spec_augment`` asks for, or ``None``."""
    masks = options.spec_augment
    if masks is None:
        return None
    return SpecAugment(masks.freq_masks, masks.freq_width, masks.time_masks, masks.time_width)


def spotter(options: FrontendOptions, network: nn.Module, frontend: LogMel) -> KeywordSpotter:
    """The model: ``frontend``, ``options``' SpecAugment and ``network``."""
    return KeywordSpotter(
        frontend, network, build_spec_augment(options), channels_last=options.channels_last
    )
