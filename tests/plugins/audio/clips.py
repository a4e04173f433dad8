"""Clip files for the audio tests, written with soundfile."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import soundfile


def write_clip(path: Path, *, rate: int = 8000, seconds: float = 0.1, seed: int = 0) -> Path:
    """A short noise clip at ``path`` (the format from its suffix)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    soundfile.write(path, rng.uniform(-0.3, 0.3, round(rate * seconds)).astype(np.float32), rate)
    return path


def speaker_folder(root: Path, speakers: list[str], digits: int = 3, takes: int = 2) -> Path:
    """``{digit}_{speaker}_{take}.wav`` files, FSDD's naming, all in ``root``."""
    for speaker in speakers:
        for digit in range(digits):
            for take in range(takes):
                write_clip(root / f"{digit}_{speaker}_{take}.wav", seed=digit * 100 + take)
    return root
