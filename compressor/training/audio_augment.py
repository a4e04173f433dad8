"""Per-sample waveform augmentation of the audio modality: time shift, background noise, gain.

:class:`AudioAugment` is what a training split of audio clips applies to each waveform between
``AudioPreprocessing.scaled`` and the model (``augment(wave, index, epoch)``; wrapped by
:class:`compressor.training.sample_augment.PerSample` into the call images and targets use). The
recipe's ``data.augment`` keys ``time_shift``, ``gain_db``, ``noise_root``, ``snr_db`` and
``noise_probability`` configure it. Its random draws are
seeded by ``(seed, epoch, index)``, never by a worker's generator, so the batches do not depend
on ``data.num_workers`` and a resumed run augments as an uninterrupted one. It is picklable: the
noise clips are listed when it is made and read (resampled to the clips' rate) by each process
the first time it needs them.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np
import torch

from compressor.data.audio import AUDIO_EXTENSIONS, audio_files, mono_at, read_clip
from compressor.errors import RecipeError


def noise_files(root: str, field: str = "data.augment.noise_root") -> list[Path]:
    """The noise clips under ``root``, at any depth.

    Raises:
        RecipeError: ``root`` is not a folder, or holds no audio files.
    """
    folder = Path(root)
    if not folder.is_dir():
        raise RecipeError(field, f"folder not found: {folder}", value=root)
    found = audio_files(folder, AUDIO_EXTENSIONS)
    if not found:
        raise RecipeError(
            field, f"{folder} holds no noise clips ({', '.join(AUDIO_EXTENSIONS)})", value=root
        )
    return found


class AudioAugment:
    """One waveform's augmentation, seeded by ``(seed, epoch, index)``.

    Args:
        config: The validated ``data.augment`` (its audio keys).
        seed: The stage's seed.
        sample_rate: The waveforms' rate (noise clips are resampled to it).
    """

    def __init__(self, config: Any, seed: int, sample_rate: int) -> None:
        self.config = config
        self.seed = int(seed)
        self.sample_rate = int(sample_rate)
        paths = noise_files(config.noise_root) if config.noise_root is not None else []
        # One byte buffer, not a list of paths: see compressor.data.streamed on workers.
        encoded = [os.fsencode(str(p)) for p in paths]
        self._ends = np.cumsum([len(e) for e in encoded], dtype=np.int64)
        self._blob = np.frombuffer(b"".join(encoded), dtype=np.uint8)
        self._noise: dict[int, np.ndarray] = {}

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        state["_noise"] = {}  # each process reads the clips it needs; none travel pickled
        return state

    @property
    def noise_count(self) -> int:
        """How many noise clips there are."""
        return len(self._ends)

    def noise(self, which: int) -> np.ndarray:
        """Noise clip ``which``, mono float32 at :attr:`sample_rate` (read once per process)."""
        if which not in self._noise:
            start = int(self._ends[which - 1]) if which > 0 else 0
            path = os.fsdecode(self._blob[start : int(self._ends[which])].tobytes())
            clip = read_clip(path)
            self._noise[which] = mono_at(clip.samples, clip.rate, self.sample_rate)
        return self._noise[which]

    def __call__(self, wave: torch.Tensor, index: int, epoch: int) -> torch.Tensor:
        """``wave`` ``(samples,)`` augmented as sample ``index`` is in ``epoch``."""
        rng = np.random.default_rng([self.seed, int(epoch), int(index)])
        out = wave.detach().cpu().numpy().astype(np.float32, copy=True)
        config = self.config
        if config.time_shift > 0.0:
            out = shifted(out, _shift(rng, len(out), config.time_shift))
        if self.noise_count and rng.random() < config.noise_probability:
            out = self._with_noise(out, rng)
        if config.gain_db is not None:
            out = out * np.float32(10.0 ** (rng.uniform(*config.gain_db) / 20.0))
        return torch.from_numpy(np.ascontiguousarray(out, dtype=np.float32))

    def _with_noise(self, wave: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """``wave`` plus a random stretch of a random noise clip at a random SNR."""
        noise = self.noise(int(rng.integers(self.noise_count)))
        length = len(wave)
        if len(noise) < length:
            noise = np.tile(noise, -(-length // max(len(noise), 1)))
        start = int(rng.integers(len(noise) - length + 1))
        stretch = noise[start : start + length]
        snr = rng.uniform(*self.config.snr_db)
        signal_power, noise_power = float(np.mean(wave * wave)), float(np.mean(stretch * stretch))
        if signal_power <= 0.0 or noise_power <= 0.0:
            return wave
        scale = np.sqrt(signal_power / (noise_power * 10.0 ** (snr / 10.0)))
        return (wave + np.float32(scale) * stretch).astype(np.float32)


def _shift(rng: np.random.Generator, length: int, fraction: float) -> int:
    """A shift of up to ``fraction`` of ``length`` samples, either way."""
    most = int(fraction * length)
    return int(rng.integers(-most, most + 1))


def shifted(wave: np.ndarray, by: int) -> np.ndarray:
    """``wave`` moved ``by`` samples later (earlier when negative), zeros filling the gap."""
    out = np.zeros_like(wave)
    if by >= 0:
        out[by:] = wave[: len(wave) - by]
    else:
        out[:by] = wave[-by:]
    return out
