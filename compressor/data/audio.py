"""The audio modality: a clip as a dataset gives it, and how it becomes the model's input.

A dataset of audio gives each sample as a :class:`Clip` (float32 samples ``(channels, n)`` and
their rate) and its target. :class:`AudioPreprocessing` is both the transform a streamed split
applies to every clip (training, evaluation and calibration alike) and the description an
exported file records, as :class:`compressor.data.Preprocessing` is for images. Its steps, in
order:

1. downmix to mono: the mean of the channels;
2. resample to ``sample_rate`` with soxr (``quality``), only when the clip's rate differs;
3. fit to ``clip_samples``: a longer clip is cropped (``crop``: its ``center`` or its
   ``start``), a shorter one padded with zeros (``pad``: at the ``end``, or on ``both`` sides,
   the odd sample at the end).

The model's input is the float32 waveform ``(clip_samples,)``; a deployed ONNX file takes
``[batch, clip_samples]``. The spectrogram is the model's business (a front-end module inside
it), so nothing is normalized here.

Deployment repeats the steps with numpy and soundfile alone (``compressor predict`` imports no
torch): :func:`read_clip` reads WAV, FLAC or OGG, and :func:`prepare_clip` applies what an
exported file recorded (:meth:`AudioPreprocessing.describe`) through the same numpy function
that training used, so a raw file gives exactly what the model saw.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np

from compressor.errors import UsageError

if TYPE_CHECKING:
    import torch

#: ``crop``: which part of a longer clip is kept.
CROPS = ("center", "start")
#: ``pad``: where a shorter clip gets its zeros.
PADS = ("end", "both")
#: The audio files read by default: what libsndfile decodes everywhere.
AUDIO_EXTENSIONS = (".wav", ".flac", ".ogg")
#: soxr's quality recipes, fastest first.
QUALITIES = ("QQ", "LQ", "MQ", "HQ", "VHQ")


@dataclass(frozen=True)
class Clip:
    """A clip of audio as a dataset gives it.

    Attributes:
        samples: float32 ``(channels, n)``, nominally in -1..1.
        rate: Samples per second.
    """

    samples: np.ndarray
    rate: int

    @property
    def seconds(self) -> float:
        """The clip's duration."""
        return self.samples.shape[-1] / self.rate


@dataclass(frozen=True)
class AudioPreprocessing:
    """The steps from a :class:`Clip` to the model's waveform input, and their parameters.

    Attributes:
        sample_rate: The rate the model hears, in Hz; clips at another rate are resampled.
        clip_samples: The input's length in samples (:meth:`from_seconds` converts seconds).
        crop: ``center`` or ``start``: the part of a longer clip kept.
        pad: ``end`` or ``both``: where a shorter clip gets its zeros.
        quality: soxr's quality recipe (``QQ``, ``LQ``, ``MQ``, ``HQ``, ``VHQ``).
    """

    modality: ClassVar[str] = "audio"

    sample_rate: int = 16000
    clip_samples: int = 16000
    crop: str = "center"
    pad: str = "end"
    quality: str = "HQ"

    def __post_init__(self) -> None:
        checks = (
            ("sample_rate", self.sample_rate > 0, "a positive number of Hz"),
            ("clip_samples", self.clip_samples > 0, "a positive number of samples"),
            ("crop", self.crop in CROPS, " or ".join(CROPS)),
            ("pad", self.pad in PADS, " or ".join(PADS)),
            ("quality", self.quality in QUALITIES, ", ".join(QUALITIES)),
        )
        for name, valid, expected in checks:
            if not valid:
                raise ValueError(f"{name} {getattr(self, name)!r}: expected {expected}")

    @classmethod
    def from_seconds(
        cls, seconds: float, sample_rate: int = 16000, **steps: Any
    ) -> AudioPreprocessing:
        """Clips of ``seconds`` at ``sample_rate`` (rounded to whole samples); ``steps`` are
        the other fields (``crop``, ``pad``, ``quality``)."""
        return cls(sample_rate=sample_rate, clip_samples=round(seconds * sample_rate), **steps)

    @classmethod
    def from_description(cls, recorded: dict[str, Any]) -> AudioPreprocessing:
        """The preprocessing :meth:`describe` wrote (other keys are ignored).

        Raises:
            ValueError: ``recorded`` is not an audio description, or a value is invalid.
        """
        modality = recorded.get("modality")
        if modality != cls.modality:
            raise ValueError(f"the recorded preprocessing is for {modality!r} inputs, not audio")
        names = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in recorded.items() if k in names})

    @property
    def input_shape(self) -> tuple[int]:
        """The shape of one model input: ``(clip_samples,)``."""
        return (self.clip_samples,)

    @property
    def seconds(self) -> float:
        """The input's duration."""
        return self.clip_samples / self.sample_rate

    def describe(self) -> dict[str, Any]:
        """A JSON-ready form, for ``metrics.json`` and an exported file's metadata: every
        parameter and ``"modality": "audio"``."""
        described: dict[str, Any] = {"modality": self.modality}
        described.update({f.name: getattr(self, f.name) for f in fields(self)})
        return described

    def fit(self, clip: Clip) -> np.ndarray:
        """All three steps in numpy: ``clip`` as float32 ``(clip_samples,)``."""
        return fit_clip(clip.samples, clip.rate, self)

    def scaled(self, clip: Any) -> torch.Tensor:
        """All three steps: the model's input for ``clip``, float32 ``(clip_samples,)``.

        ``clip`` is a :class:`Clip`; a numpy array or tensor ``(n,)`` or ``(channels, n)`` is
        taken to be at ``sample_rate`` already. (The name matches the image
        :class:`~compressor.data.Preprocessing`: per-sample augmentation runs between
        :meth:`scaled` and :meth:`normalize`.)
        """
        import torch

        return torch.from_numpy(self.fit(as_clip(clip, self.sample_rate)))

    def __call__(self, clip: Any) -> torch.Tensor:
        """The model's input for ``clip`` (see :meth:`scaled`)."""
        return self.scaled(clip)

    # -- what the image preprocessing's callers also ask -------------------------------------

    @property
    def normalizes(self) -> bool:
        """Never: the model's front-end normalizes its spectrogram."""
        return False

    def normalize(self, wave: torch.Tensor) -> torch.Tensor:
        """``wave`` as it is, contiguous (the spectrogram is normalized inside the model)."""
        return wave.contiguous()


def as_clip(sample: Any, rate: int) -> Clip:
    """``sample`` as a :class:`Clip`: a clip as it is; an array or tensor ``(n,)`` or
    ``(channels, n)`` as float32 at ``rate``.

    Raises:
        TypeError: ``sample`` is none of these, or has more than two dimensions.
    """
    if isinstance(sample, Clip):
        return sample
    if hasattr(sample, "detach"):  # a tensor; torch itself need not be imported here
        sample = sample.detach().cpu().numpy()
    if not isinstance(sample, np.ndarray):
        raise TypeError(f"an audio sample must be a Clip or an array, got {type(sample).__name__}")
    if sample.ndim not in (1, 2):
        raise TypeError(f"an audio array must be (n,) or (channels, n), got shape {sample.shape}")
    return Clip(np.atleast_2d(sample).astype(np.float32, copy=False), int(rate))


def fit_clip(samples: np.ndarray, rate: int, steps: AudioPreprocessing) -> np.ndarray:
    """Downmix, resample and pad or crop ``samples`` ``(channels, n)`` at ``rate`` as ``steps``
    say: the one implementation training and deployment share.

    Returns:
        float32 ``(steps.clip_samples,)``, a new array.
    """
    return _fit_length(mono_at(samples, rate, steps.sample_rate, steps.quality), steps)


def mono_at(samples: np.ndarray, rate: int, sample_rate: int, quality: str = "HQ") -> np.ndarray:
    """Steps 1 and 2: ``samples`` ``(channels, n)`` or ``(n,)`` at ``rate`` as float32 mono at
    ``sample_rate`` (soxr with ``quality``, only when the rates differ)."""
    mono = np.asarray(samples, dtype=np.float32)
    if mono.ndim == 2:
        mono = mono.mean(axis=0, dtype=np.float32) if mono.shape[0] > 1 else mono[0]
    if int(rate) != int(sample_rate) and len(mono):
        import soxr

        mono = soxr.resample(mono, int(rate), int(sample_rate), quality=quality)
    return np.asarray(mono, dtype=np.float32)


def _fit_length(wave: np.ndarray, steps: AudioPreprocessing) -> np.ndarray:
    """``wave`` cropped or zero-padded to ``steps.clip_samples``."""
    n, length = len(wave), steps.clip_samples
    if n >= length:
        start = (n - length) // 2 if steps.crop == "center" else 0
        return np.array(wave[start : start + length], dtype=np.float32)
    out = np.zeros(length, dtype=np.float32)
    start = (length - n) // 2 if steps.pad == "both" else 0
    out[start : start + n] = wave
    return out


def audio_files(
    root: Path, extensions: Any = AUDIO_EXTENSIONS, *, recursive: bool = True
) -> list[Path]:
    """The audio files under ``root`` (at any depth when ``recursive``), sorted by path."""
    suffixes = {e.lower() if e.startswith(".") else f".{e.lower()}" for e in extensions}
    found = root.rglob("*") if recursive else root.iterdir()
    return sorted(p for p in found if p.suffix.lower() in suffixes and p.is_file())


def read_clip(path: str | Path) -> Clip:
    """The audio file ``path`` (WAV, FLAC, OGG: what libsndfile reads) as a :class:`Clip`.

    Raises:
        UsageError: The file is missing, cannot be decoded, or holds no samples; the message
            names it.
    """
    import soundfile

    try:
        data, rate = soundfile.read(str(path), dtype="float32", always_2d=True)
    except Exception as error:  # noqa: BLE001 - libsndfile and the OS raise several types
        text = " ".join(str(error).split()) or type(error).__name__
        raise UsageError(f"{path}: cannot read the audio file ({text})") from None
    if data.shape[0] == 0:
        raise UsageError(f"{path}: the audio file holds no samples")
    return Clip(np.ascontiguousarray(data.T), int(rate))


def prepare_clip(path: str | Path, recorded: dict[str, Any]) -> np.ndarray:
    """The model's input for the audio file ``path``, as training prepared its clips.

    Args:
        path: A WAV, FLAC or OGG file.
        recorded: The preprocessing an exported file recorded (:meth:`AudioPreprocessing.describe`).

    Returns:
        float32 ``(1, clip_samples)``: one row of the ONNX model's ``[batch, samples]`` input.

    Raises:
        UsageError: The file cannot be read or is empty, or ``recorded`` is not an audio
            preprocessing.
    """
    try:
        steps = AudioPreprocessing.from_description(recorded)
    except (TypeError, ValueError) as error:
        raise UsageError(
            f"{path}: the model's recorded preprocessing is unusable ({error})"
        ) from None
    clip = read_clip(path)
    return fit_clip(clip.samples, clip.rate, steps)[np.newaxis, :]
