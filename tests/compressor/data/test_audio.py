"""The audio modality: clips, their preprocessing, and deployment repeating it with numpy."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import soundfile
import torch

from compressor.data.audio import AudioPreprocessing, Clip, prepare_clip, read_clip
from compressor.errors import UsageError


def sine(frequency: float, rate: int, seconds: float, channels: int = 1) -> np.ndarray:
    """A sine ``(channels, n)`` float32 at amplitude 0.5."""
    t = np.arange(round(rate * seconds)) / rate
    wave = (0.5 * np.sin(2 * np.pi * frequency * t)).astype(np.float32)
    return np.tile(wave, (channels, 1))


def peak_hz(wave: np.ndarray, rate: int) -> float:
    spectrum = np.abs(np.fft.rfft(wave * np.hanning(len(wave))))
    return float(np.fft.rfftfreq(len(wave), 1.0 / rate)[np.argmax(spectrum)])


@pytest.mark.parametrize(("source", "target"), [(8000, 16000), (16000, 8000)])
def test_resampling_keeps_a_sines_frequency(source: int, target: int) -> None:
    steps = AudioPreprocessing(sample_rate=target, clip_samples=target // 2)
    out = steps(Clip(sine(1000.0, source, 0.5), source))
    assert out.dtype == torch.float32 and out.shape == (target // 2,)
    assert peak_hz(out.numpy(), target) == pytest.approx(1000.0, abs=2.0)
    # Resampled, not repeated or dropped samples: the level survives (0.5 amplitude, RMS ~0.354).
    assert float(out[100:-100].pow(2).mean().sqrt()) == pytest.approx(0.5 / np.sqrt(2), rel=0.02)


def test_stereo_is_the_mean_of_its_channels() -> None:
    left, right = np.linspace(-1, 1, 800, dtype=np.float32), np.full(800, 0.25, np.float32)
    out = AudioPreprocessing(sample_rate=8000, clip_samples=800)(
        Clip(np.stack([left, right]), 8000)
    )
    np.testing.assert_allclose(out.numpy(), (left + right) / 2, atol=1e-7)


@pytest.mark.parametrize(
    ("crop", "pad", "n", "expected"),
    [
        ("center", "end", 10, [3, 4, 5, 6]),
        ("start", "end", 10, [0, 1, 2, 3]),
        ("center", "end", 2, [1, 2, 0, 0]),
        ("center", "both", 1, [0, 1, 0, 0]),
        ("center", "both", 2, [0, 1, 2, 0]),
    ],
)
def test_clips_are_cropped_or_padded_to_length(
    crop: str, pad: str, n: int, expected: list[int]
) -> None:
    steps = AudioPreprocessing(sample_rate=100, clip_samples=4, crop=crop, pad=pad)
    samples = np.arange(1, n + 1, dtype=np.float32) if n < 4 else np.arange(n, dtype=np.float32)
    assert steps(samples).tolist() == expected


def test_describe_round_trips_as_json() -> None:
    steps = AudioPreprocessing.from_seconds(0.75, sample_rate=16000, crop="start", pad="both")
    described = json.loads(json.dumps(steps.describe()))
    assert described == {
        "modality": "audio",
        "sample_rate": 16000,
        "clip_samples": 12000,
        "crop": "start",
        "pad": "both",
        "quality": "HQ",
    }
    assert AudioPreprocessing.from_description({**described, "other": 1}) == steps
    assert steps.input_shape == (12000,) and steps.modality == "audio"
    with pytest.raises(ValueError, match="image"):
        AudioPreprocessing.from_description({**described, "modality": "image"})


def test_invalid_steps_are_refused() -> None:
    with pytest.raises(ValueError, match="crop 'middle': expected center or start"):
        AudioPreprocessing(crop="middle")
    with pytest.raises(ValueError, match="clip_samples"):
        AudioPreprocessing(clip_samples=0)


@pytest.mark.parametrize("suffix", [".wav", ".flac", ".ogg"])
def test_read_clip_reads_what_soundfile_wrote(tmp_path: Path, suffix: str) -> None:
    wave = sine(440.0, 16000, 0.25, channels=2)
    wave[1] *= 0.5
    path = tmp_path / f"tone{suffix}"
    soundfile.write(path, wave.T, 16000)
    clip = read_clip(path)
    assert clip.rate == 16000 and clip.samples.dtype == np.float32 and clip.samples.shape[0] == 2
    if suffix == ".ogg":  # lossy: the same tone, not the same samples
        assert abs(clip.samples.shape[1] - 4000) < 100
        assert peak_hz(clip.samples[0], 16000) == pytest.approx(440.0, abs=5.0)
    else:  # 16-bit PCM
        np.testing.assert_allclose(clip.samples, wave, atol=1 / 2**15)


def test_prepare_clip_repeats_the_preprocessing_exactly(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    path = tmp_path / "stereo.wav"
    soundfile.write(path, rng.uniform(-0.5, 0.5, (11025, 2)), 44100, subtype="FLOAT")
    steps = AudioPreprocessing(sample_rate=16000, clip_samples=3000, crop="center")
    prepared = prepare_clip(path, steps.describe())
    assert prepared.shape == (1, 3000) and prepared.dtype == np.float32
    np.testing.assert_array_equal(prepared[0], steps(read_clip(path)).numpy())


def test_unreadable_and_empty_files_name_the_file(tmp_path: Path) -> None:
    broken = tmp_path / "broken.wav"
    broken.write_bytes(b"RIFF not really")
    with pytest.raises(UsageError, match=r"broken\.wav: cannot read the audio file"):
        read_clip(broken)
    empty = tmp_path / "empty.wav"
    soundfile.write(empty, np.zeros(0, np.float32), 8000)
    with pytest.raises(UsageError, match=r"empty\.wav: the audio file holds no samples"):
        prepare_clip(empty, AudioPreprocessing().describe())
    with pytest.raises(UsageError, match="missing.wav"):
        read_clip(tmp_path / "missing.wav")
