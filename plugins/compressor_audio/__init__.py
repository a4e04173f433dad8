"""Audio: clip datasets, keyword-spotting models with a log-mel front-end inside, augmentation.

Registered through the ``compressor`` entry-point group exactly as a third party's package
would be. Only pydantic and the SDK's records are imported here; torch, numpy and soundfile
load when a recipe first uses an audio plugin.

- datasets (``modality="audio"``, task ``classification``): ``audio_folder``,
  ``speech_commands``, ``spoken_digits`` (shipped: 240 FSDD recordings);
- models, taking float32 waveforms ``(N, samples)``: ``ds_cnn``, ``bc_resnet``,
  ``spectrogram_backbone``; each is a ``frontend`` (:class:`compressor_audio.frontend.LogMel`),
  an optional SpecAugment and a network;
Audio itself (the clip, its preprocessing and deployment reading, the waveform augmentation
of ``data.augment``) is the core's audio modality: :mod:`compressor.data.audio`,
:mod:`compressor.training.audio_augment`.
"""

from __future__ import annotations

from compressor import hookimpl
from compressor.records import DatasetPlugin, ModelPlugin
from compressor_audio.dataset_options import (
    AudioFolderOptions,
    SpeechCommandsOptions,
    SpokenDigitsOptions,
)
from compressor_audio.options import BcResNetOptions, DsCnnOptions, SpectrogramBackboneOptions


@hookimpl
def compressor_register_datasets() -> list[DatasetPlugin]:
    """Register the audio datasets."""
    return [
        DatasetPlugin(
            name="audio_folder",
            factory="compressor_audio.datasets.audio_folder:load_audio_folder",
            options=AudioFolderOptions,
            description="Your clips (WAV, FLAC, OGG): class subfolders or labels in file names.",
            modality="audio",
        ),
        DatasetPlugin(
            name="speech_commands",
            factory="compressor_audio.datasets.speech_commands:load_speech_commands",
            options=SpeechCommandsOptions,
            description="Google Speech Commands from `root`, its official splits.",
            modality="audio",
        ),
        DatasetPlugin(
            name="spoken_digits",
            factory="compressor_audio.datasets.spoken_digits:load_spoken_digits",
            options=SpokenDigitsOptions,
            description="Free Spoken Digit Dataset: 240 shipped 8 kHz clips, or a copy at `root`.",
            modality="audio",
        ),
    ]


@hookimpl
def compressor_register_models() -> list[ModelPlugin]:
    """Register the keyword-spotting models."""
    return [
        ModelPlugin(
            name="ds_cnn",
            factory="compressor_audio.models.ds_cnn:build_ds_cnn",
            options=DsCnnOptions,
            description="Log-mel front-end + depthwise-separable CNN (Hello Edge, sizes S/M/L).",
        ),
        ModelPlugin(
            name="bc_resnet",
            factory="compressor_audio.models.bc_resnet:build_bc_resnet",
            options=BcResNetOptions,
            description="Log-mel front-end + BC-ResNet (broadcasted residual learning), 9k-321k.",
        ),
        ModelPlugin(
            name="spectrogram_backbone",
            factory="compressor_audio.models.backbone:build_spectrogram_backbone",
            options=SpectrogramBackboneOptions,
            description="Log-mel front-end + a torchvision or timm image classifier, 1 channel.",
        ),
    ]
