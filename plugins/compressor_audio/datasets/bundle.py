"""The bundle every audio dataset returns: three :class:`AudioFiles`, ``modality="audio"``."""

from __future__ import annotations

from typing import Any, cast

from compressor.data import DataBundle, DataSplit
from compressor.data.audio import AudioPreprocessing
from compressor_audio.datasets.files import AudioFiles, describe_clips, most_common_rate

#: The clip length a bundle suggests when the recipe gives none: keyword-spotting clips are
#: about a second long (Speech Commands' are exactly one).
DEFAULT_CLIP_SECONDS = 1.0


def audio_bundle(
    name: str,
    splits: dict[str, AudioFiles],
    class_names: list[str],
    details: dict[str, object] | None = None,
) -> DataBundle:
    """The bundle of three datasets of ``(Clip, label)``.

    Its ``preprocessing`` is the default the data suggests (the recipe's ``data.preprocess``
    overrides it): the training clips' most common sample rate, one-second clips, centre crop,
    zeros at the end. ``details`` gains the clips' rates and durations (:func:`describe_clips`).
    """
    rate = most_common_rate(splits)
    suggested: Any = AudioPreprocessing.from_seconds(DEFAULT_CLIP_SECONDS, sample_rate=rate)
    return DataBundle(
        name=name,
        train=cast(DataSplit, splits["train"]),
        val=cast(DataSplit, splits["val"]),
        test=cast(DataSplit, splits["test"]),
        num_classes=len(class_names),
        class_names=list(class_names),
        preprocessing=suggested,
        details={**describe_clips(splits), **(details or {})},
        modality="audio",
    )
