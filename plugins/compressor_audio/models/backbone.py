"""``spectrogram_backbone``: a torchvision or timm image classifier over the 1-channel log-mel.

The classifier is built by the built-in ``torchvision`` and ``timm`` model plugins' own
factories (random weights, the first convolution taking one channel, the class count the
data's, one checked forward pass), for inputs shaped like the front-end's output
``(1, n_mels, frames)``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from compressor_audio.models.spotter import (
    KeywordSpotter,
    build_frontend,
    spotter,
    waveform_samples,
)

if TYPE_CHECKING:
    from compressor_audio.options import SpectrogramBackboneOptions


def build_spectrogram_backbone(
    options: SpectrogramBackboneOptions, input_shape: tuple[int, ...], num_classes: int
) -> KeywordSpotter:
    """The registered factory: front-end and an image classifier for clips of ``input_shape``.

    Raises:
        UsageError: The inputs are not waveforms or are shorter than one STFT window, the
            architecture is unknown, timm is missing, or the builder rejects the kwargs.
    """
    samples = waveform_samples(input_shape, "spectrogram_backbone")
    frontend = build_frontend(options, samples, "spectrogram_backbone")
    image_shape = (1, *frontend.output_shape(samples))
    if options.source == "timm":
        from compressor_models import TimmOptions
        from compressor_models.timm_models import build_timm

        network = build_timm(
            TimmOptions(arch=options.arch, kwargs=options.kwargs), image_shape, num_classes
        )
    else:
        from compressor_models import TorchvisionOptions
        from compressor_models.zoo import build_torchvision

        network = build_torchvision(
            TorchvisionOptions(arch=options.arch, kwargs=options.kwargs), image_shape, num_classes
        )
    return spotter(options, network, frontend)
