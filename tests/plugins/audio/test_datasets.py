"""The audio datasets: folders and file-name patterns, grouped splits, unreadable files,
Speech Commands' lists, the shipped spoken digits."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
from compressor_audio import compressor_register_datasets
from compressor_audio.dataset_options import (
    AudioFolderOptions,
    SpeechCommandsOptions,
    SpokenDigitsOptions,
)
from compressor_audio.datasets.audio_folder import load_audio_folder
from compressor_audio.datasets.speech_commands import load_speech_commands
from compressor_audio.datasets.spoken_digits import load_spoken_digits

from compressor.data import labels_of
from compressor.data.audio import AudioPreprocessing, Clip
from compressor.errors import RecipeError, UsageError
from tests.plugins.audio.clips import speaker_folder, write_clip


def speakers_of(split: Any) -> set[str]:
    return {Path(split.path(i)).stem.split("_")[1] for i in range(len(split))}


def test_every_dataset_is_registered_as_audio_classification() -> None:
    records = {r.name: r for r in compressor_register_datasets()}
    assert set(records) == {"audio_folder", "speech_commands", "spoken_digits"}
    assert {(r.modality, r.task) for r in records.values()} == {("audio", "classification")}


def test_class_folders_with_mixed_formats(tmp_path: Path) -> None:
    for label, suffix in (("no", ".wav"), ("yes", ".flac"), ("yes", ".ogg")):
        for i in range(5):
            write_clip(tmp_path / label / f"{i}{suffix}", rate=16000, seed=i)
    (tmp_path / "yes" / "notes.txt").write_text("not audio")
    bundle = load_audio_folder(AudioFolderOptions(train_root=str(tmp_path)), seed=0)
    assert bundle.modality == "audio" and bundle.class_names == ["no", "yes"]
    assert sum(len(bundle.split(n)) for n in ("train", "val", "test")) == 15
    train = bundle.train
    clip, label = train[0]  # type: ignore[index]
    assert isinstance(clip, Clip) and clip.rate == 16000 and clip.samples.shape == (1, 1600)
    assert train.targets.dtype == np.int64  # type: ignore[attr-defined]
    assert labels_of(train).tolist() == train.targets.tolist()  # type: ignore[attr-defined]
    assert train.sample_name(0).startswith(str(tmp_path))  # type: ignore[attr-defined]
    assert bundle.details["sample_rates"] == {"16000": 15}
    assert bundle.preprocessing == AudioPreprocessing(sample_rate=16000, clip_samples=16000)


def test_a_pattern_labels_and_groups_keep_speakers_whole(tmp_path: Path) -> None:
    speaker_folder(tmp_path, ["ann", "bob", "cy", "dee", "eve"])
    options = AudioFolderOptions(
        train_root=str(tmp_path),
        label_from="pattern",
        pattern="{label}_{speaker}_{take}",
        group_by="speaker",
        test_groups=["eve"],
        val_fraction=0.2,
    )
    bundle = load_audio_folder(options, seed=3)
    assert bundle.class_names == ["0", "1", "2"]
    assert speakers_of(bundle.test) == {"eve"}
    splits = [speakers_of(bundle.split(n)) for n in ("train", "val")]
    assert len(splits[1]) == 1 and not splits[0] & splits[1]
    assert len(bundle.train) + len(bundle.val) == 24
    again = load_audio_folder(options, seed=3)
    assert speakers_of(again.val) == splits[1]  # seeded


def test_grouped_fractions_and_bad_group_names(tmp_path: Path) -> None:
    speaker_folder(tmp_path, ["ann", "bob", "cy", "dee"])
    options: dict[str, Any] = {
        "train_root": str(tmp_path),
        "label_from": "pattern",
        "group_by": "speaker",
    }
    options["pattern"] = "{label}_{speaker}_{take}.wav"
    bundle = load_audio_folder(AudioFolderOptions(**options), seed=0)
    groups = [speakers_of(bundle.split(n)) for n in ("train", "val", "test")]
    assert [len(g) for g in groups] == [2, 1, 1] and set().union(*groups) == {
        "ann",
        "bob",
        "cy",
        "dee",
    }
    with pytest.raises(
        RecipeError, match=r"data.options.test_groups: no clips of group 'zed'.*ann, bob"
    ):
        load_audio_folder(AudioFolderOptions(**options, test_groups=["zed"]), seed=0)
    with pytest.raises(ValueError, match="group_by 'session' must be a field of pattern"):
        AudioFolderOptions(**{**options, "group_by": "session"})


def test_names_that_do_not_match_the_pattern_are_named(tmp_path: Path) -> None:
    speaker_folder(tmp_path, ["ann", "bob"])
    write_clip(tmp_path / "stray.wav")
    options = AudioFolderOptions(
        train_root=str(tmp_path), label_from="pattern", pattern="{label}_{who}_{n}"
    )
    with pytest.raises(RecipeError, match=r"data.options.pattern: the file name 'stray.wav'"):
        load_audio_folder(options, seed=0)


def test_unreadable_and_empty_files_stop_or_are_skipped(tmp_path: Path) -> None:
    for label in ("a", "b"):
        for i in range(6):
            write_clip(tmp_path / label / f"{i}.wav", seed=i)
    (tmp_path / "a" / "broken.wav").write_bytes(b"RIFF....WAVE")
    write_clip(tmp_path / "b" / "empty.wav", seconds=0.0)
    with pytest.raises(UsageError, match=r"broken\.wav: cannot read the audio file .*2 unreadable"):
        load_audio_folder(AudioFolderOptions(train_root=str(tmp_path)), seed=0)
    options = AudioFolderOptions(train_root=str(tmp_path), skip_unreadable=True)
    bundle = load_audio_folder(options, seed=0)
    assert bundle.details["skipped_unreadable"] == 2
    assert sum(len(bundle.split(n)) for n in ("train", "val", "test")) == 12


def test_missing_folders_are_recipe_errors(tmp_path: Path) -> None:
    with pytest.raises(RecipeError, match="data.options.train_root: folder not found"):
        load_audio_folder(AudioFolderOptions(train_root=str(tmp_path / "nope")), seed=0)


def test_speech_commands_follows_its_lists(tmp_path: Path) -> None:
    for word in ("yes", "no", "up"):
        for i in range(4):
            write_clip(tmp_path / word / f"spk{i}_nohash_0.wav", rate=16000, seed=i)
    write_clip(tmp_path / "_background_noise_" / "white.wav", rate=16000, seconds=1.0)
    (tmp_path / "validation_list.txt").write_text("yes/spk1_nohash_0.wav\nno/spk1_nohash_0.wav\n")
    (tmp_path / "testing_list.txt").write_text("yes/spk2_nohash_0.wav\nup/spk2_nohash_0.wav\n")
    bundle = load_speech_commands(SpeechCommandsOptions(root=str(tmp_path)), seed=0)
    assert bundle.class_names == ["no", "up", "yes"]
    assert [len(bundle.split(n)) for n in ("train", "val", "test")] == [8, 2, 2]
    options = SpeechCommandsOptions(root=str(tmp_path), words=["yes"], unknown=True)
    bundle = load_speech_commands(options, seed=0)
    assert bundle.class_names == ["yes", "_unknown_"]
    assert sorted(bundle.test.targets.tolist()) == [0, 1]  # type: ignore[attr-defined]
    with pytest.raises(
        RecipeError, match="data.options.words: no folder .*stop.*valid choices: no, up, yes"
    ):
        load_speech_commands(SpeechCommandsOptions(root=str(tmp_path), words=["stop"]), seed=0)


def test_spoken_digits_ships_a_balanced_subset() -> None:
    bundle = load_spoken_digits(SpokenDigitsOptions(), seed=0)
    assert bundle.num_classes == 10 and bundle.details["speakers"] == [
        "george",
        "jackson",
        "lucas",
        "nicolas",
    ]
    assert speakers_of(bundle.test) == {"george"} and len(bundle.test) == 60
    assert "george" not in speakers_of(bundle.train) | speakers_of(bundle.val)
    assert np.bincount(bundle.test.targets).tolist() == [6] * 10  # type: ignore[attr-defined]
    by_index = load_spoken_digits(SpokenDigitsOptions(split="index"), seed=0)
    assert len(by_index.test) == 80 and len(by_index.train) + len(by_index.val) == 160
    held = load_spoken_digits(SpokenDigitsOptions(val_speaker="lucas"), seed=0)
    assert speakers_of(held.val) == {"lucas"} and len(held.train) == 120
    with pytest.raises(RecipeError, match="test_speaker: no clips of group 'theo'"):
        load_spoken_digits(SpokenDigitsOptions(test_speaker="theo"), seed=0)
