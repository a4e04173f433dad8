"""The log-mel front-end inside every keyword-spotting model, and SpecAugment after it.

:class:`LogMel` turns a batch of waveforms ``(N, samples)`` into log-mel spectrograms
``(N, n_mels, frames)`` with plain ops, so that the whole model, front-end included, exports
to ONNX and runs in onnxruntime without the ONNX STFT op (whose results are reported wrong in
onnxruntime) and without torchaudio (which cannot sit beside this torch):

1. a short-time Fourier transform as one fixed ``Conv1d`` (``F.conv1d`` on buffers, not
   parameters): cosine and sine kernels times a periodic Hann window of ``n_fft`` samples, stride
   ``hop``, no padding (torch.stft's ``center=False``): ``1 + (samples - n_fft) // hop`` frames;
2. the power spectrum ``re**2 + im**2``, folded into step 3's matrix product;
3. the mel filterbank (HTK mel scale, triangles peaking at 1, no area normalization: the
   ``torchaudio.functional.melscale_fbanks(norm=None, mel_scale="htk")`` convention) as one
   matrix product; frequency bins that no filter uses are never computed;
4. ``log(mel + log_offset)``;
5. ``normalize``, parameter-free, per utterance: ``utterance`` (the default) brings the whole
   spectrogram to zero mean and unit variance, ``bin`` each mel bin over time (cepstral mean
   and variance normalization), ``none`` leaves it. Unnormalized log-spectrograms stall small
   students; per-bin variance normalization also raises the bins that hold only noise to the
   level of those that hold speech: on FSDD (its own split) a probe classifier reached 97-98%
   on utterance-normalized log-mels and 91-95% on bin-normalized ones.

It has no trainable parameters (torch-pruning's dependency graph sees no layer in it), and a
model holds it as its ``frontend`` attribute, so that the TorchScript ONNX exporter names its
nodes ``/frontend/...`` and the INT8 quantizer can leave them in float.

:class:`SpecAugment` masks random bands of mel bins and frames in training mode only; in eval
mode it returns its input, so it adds nothing to an exported file.
"""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

#: Added to the variance before the square root of ``normalize`` (log-mel units squared).
NORMALIZE_EPS = 1e-5
#: ``normalize``: the dimensions of ``(N, n_mels, frames)`` each statistic is taken over.
NORMALIZE_DIMS: dict[str, tuple[int, ...]] = {"utterance": (1, 2), "bin": (2,), "none": ()}


def hz_to_mel(hz: np.ndarray | float) -> np.ndarray:
    """The HTK mel scale: ``2595 * log10(1 + hz / 700)``."""
    return 2595.0 * np.log10(1.0 + np.asarray(hz, dtype=np.float64) / 700.0)


def mel_to_hz(mel: np.ndarray | float) -> np.ndarray:
    """The inverse of :func:`hz_to_mel`."""
    return 700.0 * (10.0 ** (np.asarray(mel, dtype=np.float64) / 2595.0) - 1.0)


def mel_filterbank(
    sample_rate: int, n_fft: int, n_mels: int, f_min: float, f_max: float
) -> np.ndarray:
    """Triangular filters on the HTK mel scale, float64 ``(n_fft // 2 + 1, n_mels)``.

    The filters' edges are ``n_mels + 2`` points evenly spaced in mel between ``f_min`` and
    ``f_max``; each triangle peaks at 1 on its centre and falls to 0 at its neighbours' centres,
    evaluated at the FFT bins' frequencies ``k * sample_rate / n_fft``.
    """
    bins = np.linspace(0.0, sample_rate / 2.0, n_fft // 2 + 1)
    edges = mel_to_hz(np.linspace(hz_to_mel(f_min), hz_to_mel(f_max), n_mels + 2))
    lower, centre, upper = edges[:-2], edges[1:-1], edges[2:]
    rising = (bins[:, None] - lower) / (centre - lower)
    falling = (upper - bins[:, None]) / (upper - centre)
    return np.maximum(0.0, np.minimum(rising, falling))


def stft_kernels(n_fft: int, bins: np.ndarray) -> np.ndarray:
    """The STFT of ``bins`` as convolution kernels, float64 ``(2 * len(bins), 1, n_fft)``: the
    real parts' (``cos``) then the imaginary parts' (``-sin``), times the periodic Hann window."""
    taps = np.arange(n_fft)
    window = 0.5 - 0.5 * np.cos(2.0 * math.pi * taps / n_fft)
    phase = 2.0 * math.pi * np.outer(bins, taps) / n_fft
    kernels = np.concatenate([np.cos(phase), -np.sin(phase)]) * window
    return kernels[:, np.newaxis, :]


class LogMel(nn.Module):
    """Waveforms ``(N, samples)`` to log-mel spectrograms ``(N, n_mels, frames)`` (see the
    module docstring for the steps).

    Args:
        sample_rate: The waveforms' rate in Hz.
        n_fft: Window length in samples (also the FFT size); default the power of two nearest
            32 ms (512 at 16 kHz, 256 at 8 kHz).
        hop: Samples between frames; default ``n_fft // 2``.
        n_mels: Mel filters.
        f_min: The lowest filter's lower edge in Hz.
        f_max: The highest filter's upper edge in Hz; default ``sample_rate / 2``.
        log_offset: Added to the mel energies before the log.
        normalize: ``utterance``, ``bin`` or ``none`` (see the module docstring).
    """

    kernels: torch.Tensor
    mel: torch.Tensor

    def __init__(
        self,
        sample_rate: int = 16000,
        n_fft: int | None = None,
        hop: int | None = None,
        n_mels: int = 40,
        f_min: float = 20.0,
        f_max: float | None = None,
        log_offset: float = 1e-6,
        normalize: str = "utterance",
    ) -> None:
        super().__init__()
        self.sample_rate = int(sample_rate)
        self.n_fft = int(n_fft or 2 ** round(math.log2(0.032 * sample_rate)))
        self.hop = int(hop or self.n_fft // 2)
        self.n_mels = int(n_mels)
        self.f_min = float(f_min)
        self.f_max = float(f_max if f_max is not None else sample_rate / 2)
        self.log_offset = float(log_offset)
        if normalize not in NORMALIZE_DIMS:
            raise ValueError(f"normalize {normalize!r}: expected {', '.join(NORMALIZE_DIMS)}")
        self.normalize = normalize
        if not 0.0 <= self.f_min < self.f_max <= sample_rate / 2:
            raise ValueError(
                f"need 0 <= f_min < f_max <= sample_rate / 2, got f_min {self.f_min}, f_max "
                f"{self.f_max} at {sample_rate} Hz"
            )
        fbank = mel_filterbank(self.sample_rate, self.n_fft, self.n_mels, self.f_min, self.f_max)
        used = np.flatnonzero(fbank.sum(axis=1) > 0.0)  # bins no filter reads are not computed
        self.bins = len(used)
        kernels = stft_kernels(self.n_fft, used)
        # One product sums re**2 and im**2 into the mel energies: [M M] @ [re**2; im**2].
        mel = np.concatenate([fbank[used], fbank[used]]).T
        self.register_buffer("kernels", torch.tensor(kernels, dtype=torch.float32))
        self.register_buffer("mel", torch.tensor(mel, dtype=torch.float32))

    def frames(self, samples: int) -> int:
        """How many frames a waveform of ``samples`` gives."""
        return 1 + (samples - self.n_fft) // self.hop

    def output_shape(self, samples: int) -> tuple[int, int]:
        """``(n_mels, frames)`` of one waveform of ``samples``."""
        return self.n_mels, self.frames(samples)

    def power_mel(self, wave: torch.Tensor) -> torch.Tensor:
        """Steps 1 to 3: the mel energies ``(N, n_mels, frames)`` of ``wave`` ``(N, samples)``."""
        spectrum = F.conv1d(wave.unsqueeze(1), self.kernels, stride=self.hop)
        return torch.matmul(self.mel, spectrum * spectrum)

    def forward(self, wave: torch.Tensor) -> torch.Tensor:
        """The log-mel spectrogram ``(N, n_mels, frames)`` of ``wave`` ``(N, samples)``."""
        features = torch.log(self.power_mel(wave) + self.log_offset)
        dims = NORMALIZE_DIMS[self.normalize]
        if dims:
            centred = features - features.mean(dim=dims, keepdim=True)
            variance = (centred * centred).mean(dim=dims, keepdim=True)
            features = centred / torch.sqrt(variance + NORMALIZE_EPS)
        return features

    def extra_repr(self) -> str:
        return (
            f"sample_rate={self.sample_rate}, n_fft={self.n_fft}, hop={self.hop}, "
            f"n_mels={self.n_mels}, f_min={self.f_min}, f_max={self.f_max}, "
            f"normalize={self.normalize}"
        )


class SpecAugment(nn.Module):
    """Random frequency and time masks on spectrograms ``(N, n_mels, frames)`` while training.

    Each mask sets a band of up to ``*_width`` consecutive mel bins (or frames), drawn per
    sample from torch's generator, to ``value`` (0, the mean of a normalized spectrogram). In
    eval mode the input is returned as it is.

    Args:
        freq_masks: Frequency masks per sample.
        freq_width: The widest frequency mask, in mel bins.
        time_masks: Time masks per sample.
        time_width: The widest time mask, in frames.
        value: What masked cells become.
    """

    def __init__(
        self,
        freq_masks: int = 2,
        freq_width: int = 5,
        time_masks: int = 2,
        time_width: int = 10,
        value: float = 0.0,
    ) -> None:
        super().__init__()
        self.freq_masks, self.freq_width = int(freq_masks), int(freq_width)
        self.time_masks, self.time_width = int(time_masks), int(time_width)
        self.value = float(value)

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        """``features`` masked (training mode), or as given (eval mode)."""
        if not self.training:
            return features
        keep = _band_mask(features, dim=1, count=self.freq_masks, width=self.freq_width)
        keep = keep & _band_mask(features, dim=2, count=self.time_masks, width=self.time_width)
        return features.masked_fill(~keep, self.value)

    def extra_repr(self) -> str:
        return (
            f"freq_masks={self.freq_masks}, freq_width={self.freq_width}, "
            f"time_masks={self.time_masks}, time_width={self.time_width}"
        )


def _band_mask(features: torch.Tensor, *, dim: int, count: int, width: int) -> torch.Tensor:
    """``True`` outside ``count`` random bands of up to ``width`` along ``dim`` (1 or 2), per
    sample, broadcastable to ``features`` ``(N, bins, frames)``."""
    n, size = features.shape[0], features.shape[dim]
    keep = torch.ones(n, size, dtype=torch.bool, device=features.device)
    positions = torch.arange(size, device=features.device)
    for _ in range(count):
        widths = torch.randint(0, min(width, size) + 1, (n, 1), device=features.device)
        starts = (torch.rand(n, 1, device=features.device) * (size - widths + 1)).long()
        keep &= (positions < starts) | (positions >= starts + widths)
    return keep.unsqueeze(2) if dim == 1 else keep.unsqueeze(1)
