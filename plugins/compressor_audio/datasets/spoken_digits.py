"""``spoken_digits``: the Free Spoken Digit Dataset (FSDD), shipped subset or a full copy.

FSDD (github.com/Jakobovski/free-spoken-digit-dataset, CC BY-SA 4.0) is spoken digits 0-9,
8 kHz mono WAV files named ``{digit}_{speaker}_{index}.wav``. compressor ships 240 of them
(``data/fsdd/``: 4 speakers x 10 digits x recordings 0, 1, 5, 6, 7, 8; its README has the
attribution); ``root`` reads a full copy instead.

``split: speaker`` holds ``test_speaker`` out for test (the honest figure: a voice the model
never heard), and validates on ``val_speaker`` or a stratified fraction of the training
speakers' clips; ``split: index`` is the dataset's own split (recordings 0-4 of every speaker
in test), whose test speakers are also training speakers.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from compressor.data import DataBundle
from compressor.data.audio import audio_files
from compressor.errors import RecipeError
from compressor_audio.dataset_options import SpokenDigitsOptions
from compressor_audio.datasets.bundle import audio_bundle
from compressor_audio.datasets.files import AudioFiles, read_headers, readable
from compressor_audio.datasets.naming import name_fields
from compressor_audio.datasets.splitting import held_out_groups, stratified_parts

#: The shipped recordings.
SHIPPED = Path(__file__).resolve().parents[1] / "data" / "fsdd" / "recordings"
#: FSDD's file names.
PATTERN = "{digit}_{speaker}_{index}.wav"
#: Recordings with an index below this are the test split of ``split: index``.
TEST_INDICES = 5
DIGITS = [str(d) for d in range(10)]


def _recordings(root: Path) -> tuple[list[Path], dict[str, list[str]]]:
    """The recordings under ``root`` and their file names' fields.

    Raises:
        RecipeError: ``root`` is missing or holds no WAV files, or a name is not FSDD's.
    """
    field = "data.options.root"
    if not root.is_dir():
        raise RecipeError(field, f"folder not found: {root}", value=str(root))
    paths = audio_files(root, [".wav"])
    if not paths:
        raise RecipeError(field, f"{root} holds no .wav files; point root at FSDD's recordings/")
    fields = name_fields(paths, PATTERN, field)
    bad = [d for d in fields["digit"] if d not in DIGITS]
    if bad:
        raise RecipeError(field, f"{bad[0]!r} is not a digit 0-9 in a file name under {root}")
    return paths, fields


def _parts(
    fields: dict[str, list[str]], options: SpokenDigitsOptions, seed: int
) -> dict[str, np.ndarray]:
    """Row indices of train, val and test."""
    labels = np.array([int(d) for d in fields["digit"]], dtype=np.int64)
    rows = np.arange(len(labels))
    if options.split == "index":
        held = np.flatnonzero(np.array([int(i) for i in fields["index"]]) < TEST_INDICES)
        test, val = held, None
    else:
        speakers = sorted(set(fields["speaker"]))
        codes = np.array([speakers.index(s) for s in fields["speaker"]])
        test = held_out_groups(codes, speakers, [options.test_speaker], "data.options.test_speaker")
        val = None
        if options.val_speaker is not None:
            val = held_out_groups(
                codes, speakers, [options.val_speaker], "data.options.val_speaker"
            )
    rest = np.setdiff1d(rows, test)
    if val is None:
        cut = stratified_parts(labels[rest], {"val": options.val_fraction}, seed)
        return {"train": rest[cut["train"]], "val": rest[cut["val"]], "test": test}
    return {"train": np.setdiff1d(rest, val), "val": val, "test": test}


def load_spoken_digits(options: SpokenDigitsOptions, seed: int) -> DataBundle:
    """Load FSDD as train/val/test datasets of ``(Clip, digit)``.

    Args:
        options: The validated ``spoken_digits`` options.
        seed: The split seed (``data.split_seed``): which clips validate.

    Raises:
        RecipeError: ``root`` holds no FSDD recordings, or a speaker is not among them.
        UsageError: A recording cannot be read.
    """
    root = Path(options.root) if options.root is not None else SHIPPED
    paths, fields = _recordings(root)
    headers = read_headers(paths)
    readable(paths, headers, skip=False, field="data.options.root")
    labels = [int(d) for d in fields["digit"]]
    splits = {
        name: AudioFiles(
            [paths[i] for i in rows], [labels[i] for i in rows], [headers[i] for i in rows]
        )
        for name, rows in _parts(fields, options, seed).items()
    }
    details: dict[str, object] = {
        "split": options.split,
        "speakers": sorted(set(fields["speaker"])),
    }
    return audio_bundle("spoken_digits", splits, DIGITS, details)
