"""Keyword-spotting models: a log-mel front-end, then a network over the spectrogram.

``ds_cnn`` (Zhang et al. 2017, "Hello Edge"), ``bc_resnet`` (Kim et al. 2021, broadcasted
residual learning) and ``spectrogram_backbone`` (a torchvision or timm image classifier over the
1-channel log-mel). Each takes float32 waveforms ``(N, samples)`` and returns class logits; see
:class:`compressor_audio.models.spotter.KeywordSpotter` for the parts every one shares.
"""
