"""Waveform augmentation: seeded per sample and epoch, picklable, shift, gain and noise as set."""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import pytest
import torch

from compressor.errors import RecipeError
from compressor.recipe import AugmentConfig
from compressor.training.audio_augment import AudioAugment, shifted
from tests.plugins.audio.clips import write_clip

RATE = 8000


def tone() -> torch.Tensor:
    t = torch.arange(RATE // 2) / RATE
    return (0.3 * torch.sin(2 * torch.pi * 500 * t)).float()


def test_draws_depend_on_seed_epoch_and_index_only() -> None:
    augment = AudioAugment(AugmentConfig(time_shift=0.2, gain_db=(-6, 6)), seed=1, sample_rate=RATE)
    wave = tone()
    first = augment(wave, index=3, epoch=0)
    assert torch.equal(first, augment(wave, index=3, epoch=0))
    assert torch.equal(first, pickle.loads(pickle.dumps(augment))(wave, 3, 0))
    assert not torch.equal(first, augment(wave, index=3, epoch=1))
    assert not torch.equal(first, augment(wave, index=4, epoch=0))
    assert torch.equal(wave, tone())  # the input is left alone
    assert first.dtype == torch.float32 and first.shape == wave.shape


def test_shift_fills_with_zeros_and_gain_stays_in_range() -> None:
    wave = np.arange(1, 9, dtype=np.float32)
    assert shifted(wave, 3).tolist() == [0, 0, 0, 1, 2, 3, 4, 5]
    assert shifted(wave, -2).tolist() == [3, 4, 5, 6, 7, 8, 0, 0]
    augment = AudioAugment(AugmentConfig(gain_db=(-6, 6)), seed=0, sample_rate=RATE)
    wave_t = tone()
    ratios = [float(augment(wave_t, i, 0).abs().max() / wave_t.abs().max()) for i in range(40)]
    assert 10 ** (-6 / 20) - 1e-4 <= min(ratios) and max(ratios) <= 10 ** (6 / 20) + 1e-4
    assert max(ratios) / min(ratios) > 1.5


def test_noise_is_mixed_at_the_drawn_snr(tmp_path: Path) -> None:
    write_clip(tmp_path / "noise" / "hum.flac", rate=16000, seconds=0.2)  # resampled, tiled
    config = AugmentConfig(
        noise_root=str(tmp_path / "noise"), snr_db=(10, 10), noise_probability=1.0
    )
    augment = AudioAugment(config, seed=0, sample_rate=RATE)
    wave = tone()
    noisy = augment(wave, 0, 0)
    noise = noisy - wave
    snr = 10 * torch.log10(wave.pow(2).mean() / noise.pow(2).mean())
    assert float(snr) == pytest.approx(10.0, abs=0.01)
    assert augment.noise_count == 1 and pickle.loads(pickle.dumps(augment))._noise == {}


def test_a_missing_noise_folder_is_a_recipe_error(tmp_path: Path) -> None:
    with pytest.raises(RecipeError, match="data.augment.noise_root: folder not found"):
        AudioAugment(AugmentConfig(noise_root=str(tmp_path / "none")), seed=0, sample_rate=RATE)
    (tmp_path / "empty").mkdir()
    with pytest.raises(RecipeError, match="holds no noise clips"):
        AudioAugment(AugmentConfig(noise_root=str(tmp_path / "empty")), seed=0, sample_rate=RATE)
    with pytest.raises(ValueError, match="low <= high"):
        AugmentConfig(gain_db=(6, -6))
