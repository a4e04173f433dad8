"""The deployment preprocessing an exported file records, read back and repeated on input files.

Images: :class:`Deployment`. Audio clips: :class:`AudioDeployment`, which repeats the recorded
clip steps with :func:`compressor.data.audio.prepare_clip` (numpy, soundfile and soxr).

The ``onnx`` exporter writes the run's preprocessing into the file's ``metadata_props`` as the
JSON entry ``preprocessing`` (docs/export.md). :func:`read_preprocessing` reads it back from
that metadata, and :meth:`Deployment.prepare` repeats it on an image file with PIL and numpy
alone, no torch: convert the channels (RGB or grey), resize
(:func:`compressor.imaging.resize_image`, the very code training resizes 8-bit images with),
center crop, scale to 0..1 and normalize, unless the graph normalizes itself.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from compressor.errors import UsageError
from compressor.imaging import resize_image

#: The ``preprocessing`` formats this module reads.
FORMATS = (1,)
#: PIL's mode for each recorded channel order.
_MODES = {"RGB": "RGB", "grey": "L"}
#: What re-exporting says, for a file without the metadata.
REEXPORT = (
    "re-export it with an export stage of compressor 0.3 or later (the onnx exporter records "
    "the preprocessing in the file's metadata)"
)


@dataclass(frozen=True)
class Deployment:
    """What a model file says about preparing its input and reading its output.

    Attributes:
        resize: ``[size]`` for the shorter side, ``[height, width]``, or ``None``.
        interpolation: ``nearest``, ``bilinear`` or ``bicubic``.
        center_crop: ``[height, width]`` or ``None``.
        channels: ``RGB`` or ``grey``.
        mean: Per-channel mean (0..1 scale).
        std: Per-channel standard deviation.
        graph_input: ``normalized`` (float32, normalized here), ``uint8 0..255`` or
            ``float 0..1`` (pixels; the graph normalizes).
        class_names: One name per class; ``class 0``, ... when the file names none.
    """

    resize: list[int] | None
    interpolation: str
    center_crop: list[int] | None
    channels: str
    mean: list[float]
    std: list[float]
    graph_input: str
    class_names: list[str]

    def prepare(self, path: Path) -> np.ndarray:
        """The graph's input ``(1, C, H, W)`` for the image file ``path`` (see :meth:`read`).

        Raises:
            UsageError: The file cannot be read as an image.
        """
        return self.read(path)[0]

    def read(self, path: Path) -> tuple[np.ndarray, tuple[int, int]]:
        """The graph's input ``(1, C, H, W)`` for the image file ``path``, and the image's own
        ``(height, width)`` (to map what the model locates back onto it).

        Raises:
            UsageError: The file cannot be read as an image (a decompression bomb included).
        """
        from PIL import Image

        try:
            with Image.open(path) as opened:
                image = opened.convert(_MODES[self.channels])
        # Any failure to decode, PIL's DecompressionBombError (no OSError) included.
        except Exception as error:  # noqa: BLE001
            reason = " ".join(str(error).split()) or type(error).__name__
            raise UsageError(f"{path}: cannot read it as an image ({reason})") from None
        original = (image.height, image.width)
        if self.resize is not None:
            image = resize_image(image, self.resize, self.interpolation)
        pixels = np.asarray(image, dtype=np.uint8)
        pixels = pixels[:, :, None] if pixels.ndim == 2 else pixels
        if self.center_crop is not None:
            pixels = _center_crop(pixels, self.center_crop)
        chw = np.ascontiguousarray(pixels.transpose(2, 0, 1))[None]
        if self.graph_input == "uint8 0..255":
            return chw, original
        scaled = chw.astype(np.float32) / np.float32(255.0)
        if self.graph_input == "float 0..1":
            return scaled, original
        mean = np.asarray(self.mean, dtype=np.float32).reshape(1, -1, 1, 1)
        std = np.asarray(self.std, dtype=np.float32).reshape(1, -1, 1, 1)
        return np.ascontiguousarray((scaled - mean) / std, dtype=np.float32), original


def _center_crop(pixels: np.ndarray, crop: list[int]) -> np.ndarray:
    """torchvision's ``center_crop`` of ``(H, W, C)`` pixels (zero padding when it is larger)."""
    height, width = int(crop[0]), int(crop[-1])
    h, w = pixels.shape[:2]
    if height > h or width > w:
        top, left = (max(height - h, 0) // 2), (max(width - w, 0) // 2)
        padded = np.zeros((max(h, height), max(w, width), pixels.shape[2]), dtype=pixels.dtype)
        padded[top : top + h, left : left + w] = pixels
        pixels, (h, w) = padded, padded.shape[:2]
    top = round((h - height) / 2.0)
    left = round((w - width) / 2.0)
    return pixels[top : top + height, left : left + width]


@dataclass(frozen=True)
class AudioDeployment:
    """What a model file says about preparing an audio clip (the audio modality's
    :class:`Deployment`).

    Attributes:
        recorded: The recorded preprocessing
            (:meth:`compressor.data.audio.AudioPreprocessing.describe`).
        class_names: One name per class.
    """

    recorded: dict[str, Any]
    class_names: list[str]

    def read(self, path: Path) -> tuple[np.ndarray, None]:
        """The graph's input ``(1, samples)`` for the audio file ``path`` (read, downmixed,
        resampled, cropped or padded as training did); no image size.

        Raises:
            UsageError: The file cannot be read as audio, or is empty.
        """
        from compressor.data.audio import prepare_clip

        return prepare_clip(path, self.recorded), None


def read_preprocessing(meta: dict[str, str], file: str) -> Deployment | AudioDeployment:
    """The :class:`Deployment` that ``meta``, a file's ``metadata_props``, records.

    Args:
        meta: The metadata (``session.get_modelmeta().custom_metadata_map``).
        file: The file's name, for messages.

    Raises:
        UsageError: The metadata has no ``preprocessing`` entry (a file not exported by
            compressor, or by an older one), or one this version cannot read.
    """
    text = meta.get("preprocessing")
    if text is None:
        found = ", ".join(sorted(meta)) or "no metadata at all"
        raise UsageError(
            f"{file}: no compressor preprocessing in its metadata (found: {found}); {REEXPORT}"
        )
    try:
        entry = json.loads(text)
        version = entry["format"]
    except (ValueError, TypeError, KeyError):
        raise UsageError(f"{file}: its preprocessing metadata is not valid; {REEXPORT}") from None
    names = [str(n) for n in json.loads(meta.get("class_names", "[]"))]
    if entry.get("modality") == "audio" and version in FORMATS:
        return AudioDeployment(entry, names)
    if version not in FORMATS or entry.get("channels") not in _MODES:
        raise UsageError(
            f"{file}: preprocessing format {version} with channels {entry.get('channels')!r}; "
            f"this compressor reads format {FORMATS[-1]} images with RGB or grey channels"
        )
    return Deployment(
        resize=entry.get("resize"),
        interpolation=entry.get("interpolation", "bilinear"),
        center_crop=entry.get("center_crop"),
        channels=entry["channels"],
        mean=[float(v) for v in entry["mean"]],
        std=[float(v) for v in entry["std"]],
        graph_input=entry["graph_input"],
        class_names=names,
    )
