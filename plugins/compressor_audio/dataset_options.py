"""The options of the audio datasets. Pydantic alone: the hook module imports these."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from compressor.schemas import StrictModel

#: The audio files read by default (any case): what libsndfile decodes.
AUDIO_EXTENSIONS = [".wav", ".flac", ".ogg"]
#: How ``skip_unreadable`` is described in every schema.
SKIP_DESCRIPTION = (
    "Leave out the files whose header cannot be read or that hold no samples (counted in "
    "metrics.json as data.skipped_unreadable) instead of stopping with the first one's name."
)


class AudioSplitOptions(StrictModel):
    """The validation and test fractions of the audio datasets."""

    val_fraction: float = Field(
        default=0.15,
        gt=0.0,
        le=0.5,
        description="Fraction of the training clips held out for validation (0 < f <= 0.5): "
        "stratified by class, or whole groups with group_by; seeded by data.split_seed.",
    )
    test_fraction: float = Field(
        default=0.2,
        gt=0.0,
        le=0.5,
        description="Fraction held out for the test figures, as val_fraction.",
    )

    @model_validator(mode="after")
    def _leaves_training_data(self) -> AudioSplitOptions:
        if self.val_fraction + self.test_fraction >= 1.0:
            raise ValueError(
                f"val_fraction + test_fraction must be < 1 (got {self.val_fraction} + "
                f"{self.test_fraction}), or nothing is left to train on"
            )
        return self


class AudioFolderOptions(AudioSplitOptions):
    """Options of ``audio_folder``."""

    train_root: str = Field(
        description="Folder of the training clips: one subfolder per class (label_from: "
        "folder; clips at any depth inside), or any layout with labels in the file names "
        "(label_from: pattern)."
    )
    val_root: str | None = Field(
        default=None,
        description="Folder of the validation clips, laid out as train_root; unset: "
        "val_fraction of train_root.",
    )
    test_root: str | None = Field(
        default=None,
        description="Folder of the test clips, laid out as train_root; unset: test_groups, "
        "else test_fraction of train_root.",
    )
    label_from: Literal["folder", "pattern"] = Field(
        default="folder",
        description="Where a clip's class comes from: its class subfolder (folder), or the "
        "{label} field of its file name (pattern).",
    )
    pattern: str | None = Field(
        default=None,
        description="Fields in the file names, e.g. '{label}_{speaker}_{index}.wav' (matched "
        "against the name, or the name without its extension); {label} is the class with "
        "label_from: pattern, any field may be group_by.",
    )
    group_by: str | None = Field(
        default=None,
        description="A pattern field (e.g. speaker) whose groups a split keeps whole: no "
        "speaker is in two splits.",
    )
    test_groups: list[str] | None = Field(
        default=None,
        min_length=1,
        description="Groups of group_by held out as the test split (e.g. [george]), instead of "
        "test_fraction.",
    )
    extensions: list[str] = Field(
        default_factory=lambda: list(AUDIO_EXTENSIONS),
        min_length=1,
        description="The file extensions read as audio, case-insensitive; other files are ignored.",
    )
    skip_unreadable: bool = Field(default=False, description=SKIP_DESCRIPTION)

    @model_validator(mode="after")
    def _fields_exist(self) -> AudioFolderOptions:
        from compressor_audio.datasets.naming import pattern_fields

        fields = pattern_fields(self.pattern) if self.pattern is not None else []
        if self.label_from == "pattern" and "label" not in fields:
            raise ValueError("label_from: pattern needs a pattern with a {label} field")
        if self.group_by is not None and self.group_by not in fields:
            raise ValueError(
                f"group_by {self.group_by!r} must be a field of pattern "
                f"({', '.join(fields) or 'no pattern given'})"
            )
        if self.test_groups is not None and self.group_by is None:
            raise ValueError("test_groups needs group_by, the field the groups are values of")
        if self.test_groups is not None and self.test_root is not None:
            raise ValueError("give test_root or test_groups, not both")
        return self


class SpeechCommandsOptions(StrictModel):
    """Options of ``speech_commands``."""

    root: str = Field(
        description="The extracted Speech Commands folder (v1 or v2): one folder per word, "
        "validation_list.txt and testing_list.txt; _background_noise_ is not a class."
    )
    words: list[str] | None = Field(
        default=None,
        min_length=1,
        description="The words to classify (e.g. the 10 of the benchmark: yes, no, up, down, "
        "left, right, on, off, stop, go); unset: every word folder.",
    )
    unknown: bool = Field(
        default=False,
        description="With words: the clips of every other word become one more class, "
        "_unknown_; false leaves them out.",
    )
    skip_unreadable: bool = Field(default=False, description=SKIP_DESCRIPTION)

    @model_validator(mode="after")
    def _unknown_needs_words(self) -> SpeechCommandsOptions:
        if self.unknown and self.words is None:
            raise ValueError("unknown: true needs words, the classes kept apart from _unknown_")
        return self


class SpokenDigitsOptions(StrictModel):
    """Options of ``spoken_digits``."""

    root: str | None = Field(
        default=None,
        description="Folder of a full Free Spoken Digit Dataset copy ({digit}_{speaker}_{index}"
        ".wav, its recordings/ folder); unset: the 240 recordings shipped with compressor "
        "(4 speakers x 10 digits x indices 0, 1, 5, 6, 7, 8).",
    )
    split: Literal["speaker", "index"] = Field(
        default="speaker",
        description="speaker: test_speaker's clips are the test split (voices never heard); "
        "index: the dataset's own split, recordings 0-4 of every speaker are the test split.",
    )
    test_speaker: str = Field(
        default="george", description="With split: speaker, the speaker held out for test."
    )
    val_speaker: str | None = Field(
        default=None,
        description="With split: speaker, a speaker held out for validation; unset: "
        "val_fraction of the training speakers' clips.",
    )
    val_fraction: float = Field(
        default=0.15,
        gt=0.0,
        le=0.5,
        description="Fraction of the training clips held out for validation, stratified by "
        "digit (unless val_speaker is set).",
    )

    @model_validator(mode="after")
    def _two_speakers(self) -> SpokenDigitsOptions:
        if self.val_speaker is not None and self.val_speaker == self.test_speaker:
            raise ValueError(f"val_speaker and test_speaker are both {self.test_speaker!r}")
        if self.val_speaker is not None and self.split != "speaker":
            raise ValueError("val_speaker applies to split: speaker")
        return self
