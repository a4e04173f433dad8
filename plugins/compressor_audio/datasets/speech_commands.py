"""``speech_commands``: Google Speech Commands (v1 or v2) as its authors lay it out.

The folder holds one subfolder of 16 kHz one-second WAV clips per word, and two lists of paths
relative to it, ``validation_list.txt`` and ``testing_list.txt``: the official validation and
test splits (the authors assign clips by a hash of the speaker, so no speaker is in two splits);
every other clip trains. ``_background_noise_`` is not a class: point the audio augmentation's
``noise_root`` at it.

``words`` keeps those words as the classes, in the order given; with ``unknown: true`` the
clips of every other word form one more class, ``_unknown_`` (much larger than the others: the
benchmark's 12-class task also has a silence class, which this dataset does not make).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from compressor.data import DataBundle
from compressor.data.audio import audio_files
from compressor.errors import RecipeError
from compressor_audio.dataset_options import SpeechCommandsOptions
from compressor_audio.datasets.bundle import audio_bundle
from compressor_audio.datasets.files import AudioFiles, read_headers, readable

#: The class of every word not in ``words`` with ``unknown: true``.
UNKNOWN = "_unknown_"
#: The files naming the official validation and test clips.
LISTS = {"val": "validation_list.txt", "test": "testing_list.txt"}


def _listed(root: Path, name: str) -> set[str]:
    """The relative paths ``root/name`` lists.

    Raises:
        RecipeError: The list is missing.
    """
    path = root / name
    if not path.is_file():
        raise RecipeError(
            "data.options.root",
            f"{path} not found; root must be the extracted Speech Commands folder (word folders, "
            "validation_list.txt, testing_list.txt)",
            value=str(root),
        )
    return {line.strip() for line in path.read_text().splitlines() if line.strip()}


def _classes(root: Path, options: SpeechCommandsOptions) -> tuple[list[str], dict[str, str]]:
    """The class names, and the class of each word folder that is read."""
    words = sorted(
        p.name for p in root.iterdir() if p.is_dir() and not p.name.startswith(("_", "."))
    )
    if not words:
        raise RecipeError("data.options.root", f"{root} has no word folders", value=str(root))
    if options.words is None:
        return words, {w: w for w in words}
    for word in options.words:
        if word not in words:
            raise RecipeError(
                "data.options.words", f"no folder {root / word}", value=word, choices=words
            )
    classes = list(options.words)
    of_word = {w: w for w in classes}
    if options.unknown:
        of_word.update({w: UNKNOWN for w in words if w not in of_word})
        classes.append(UNKNOWN)
    return classes, of_word


def load_speech_commands(options: SpeechCommandsOptions, seed: int) -> DataBundle:
    """Load Speech Commands' official splits as datasets of ``(Clip, label)``.

    Args:
        options: The validated ``speech_commands`` options.
        seed: Unused: the official lists fix the split.

    Raises:
        RecipeError: ``root`` is not a Speech Commands folder, or a word has no folder.
        UsageError: A clip cannot be read (and ``skip_unreadable`` is off).
    """
    root = Path(options.root)
    if not root.is_dir():
        raise RecipeError("data.options.root", f"folder not found: {root}", value=str(root))
    listed = {name: _listed(root, file) for name, file in LISTS.items()}
    classes, of_word = _classes(root, options)
    index = {name: i for i, name in enumerate(classes)}
    paths: list[Path] = []
    labels: list[int] = []
    parts: list[str] = []
    for word in sorted(of_word):
        for path in audio_files(root / word, [".wav"], recursive=False):
            relative = f"{word}/{path.name}"
            paths.append(path)
            labels.append(index[of_word[word]])
            parts.append(next((n for n, names in listed.items() if relative in names), "train"))
    headers = read_headers(paths)
    keep, skipped = readable(
        paths, headers, skip=options.skip_unreadable, field="data.options.skip_unreadable"
    )
    part_of = np.array(parts)[keep]
    splits = {}
    for name in ("train", "val", "test"):
        rows = keep[part_of == name]
        if len(rows) == 0:
            raise RecipeError("data.options.root", f"no {name} clips under {root}", value=str(root))
        splits[name] = AudioFiles(
            [paths[i] for i in rows], [labels[i] for i in rows], [headers[i] for i in rows]
        )
    details: dict[str, object] = {"skipped_unreadable": skipped} if options.skip_unreadable else {}
    return audio_bundle("speech_commands", splits, classes, details)
