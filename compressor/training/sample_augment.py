"""Per-sample augmentation with torchvision.transforms.v2: crops, colour, RandAugment, TrivialAugment.

Unlike the batch augmentation of :mod:`compressor.training.augment`, these transforms treat each
image on its own, on the 0..1 image before normalization, and run on the training split only.
On a streamed split they run in the ``DataLoader`` workers (:meth:`StreamedSplit.augmented`); on
an in-memory split :class:`PerSample` un-normalizes the batch, transforms each sample and
normalizes it again. Both paths give a sample the same transform: its random draws are seeded
by ``(seed, epoch, index)``, never by a worker's generator, so the batches do not depend on
``data.num_workers``, and a resumed run augments as an uninterrupted one.

The order is fixed: ``random_resized_crop``, ``rand_augment``, ``trivial_augment``,
``color_jitter``; the batch augmentation (shift, flip, ..., mixup) follows.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch

from compressor.data import DataSplit, StreamedSplit


def sample_seed(seed: int, epoch: int, index: int) -> int:
    """The seed of one sample's transform in one epoch: well mixed, the same in any process."""
    state = np.random.SeedSequence([seed, epoch, index]).generate_state(2, dtype=np.uint32)
    return int(state[0]) << 31 ^ int(state[1])


def build_transform(config: Any, image_size: Sequence[int]) -> Any:
    """The ``torchvision.transforms.v2`` pipeline of ``config``'s per-sample keys, or ``None``.

    Args:
        config: The validated ``AugmentConfig``.
        image_size: ``(height, width)`` of the training inputs: ``random_resized_crop``'s
            default output size.
    """
    if not config.per_sample:
        return None  # before importing torchvision: half a second, a cost runs without it skip
    from torchvision.transforms import v2

    steps: list[Any] = []
    crop = config.random_resized_crop
    if crop is not None:
        size = crop.size if crop.size is not None else list(image_size)
        steps.append(
            v2.RandomResizedCrop(
                size, scale=tuple(crop.scale), ratio=tuple(crop.ratio), antialias=True
            )
        )
    if config.rand_augment is not None:
        steps.append(
            v2.RandAugment(
                num_ops=config.rand_augment.num_ops, magnitude=config.rand_augment.magnitude
            )
        )
    if config.trivial_augment:
        steps.append(v2.TrivialAugmentWide())
    jitter = config.color_jitter
    if jitter is not None:
        steps.append(
            v2.ColorJitter(
                brightness=jitter.brightness or None,
                contrast=jitter.contrast or None,
                saturation=jitter.saturation or None,
                hue=jitter.hue or None,
            )
        )
    return v2.Compose(steps) if steps else None


class SampleAugment:
    """One image's per-sample augmentation, seeded by ``(seed, epoch, index)``.

    What a :class:`~compressor.data.StreamedSplit` applies between ``Preprocessing.scaled`` and
    normalization; picklable, so it travels to the workers.

    Args:
        transform: The v2 pipeline (:func:`build_transform`).
        seed: The stage's seed.
        task: The run's task: it applies the transform to a sample and its target
            (:meth:`compressor.task.Task.transform_sample`); ``None``: the image alone.
    """

    def __init__(self, transform: Any, seed: int, task: Any = None) -> None:
        self.transform = transform
        self.seed = int(seed)
        self.task = task

    def __call__(
        self, image: torch.Tensor, target: torch.Tensor, index: int, epoch: int
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """``image`` ``(C, H, W)`` in 0..1 and its target, augmented as sample ``index`` is in
        ``epoch``."""
        # v2 transforms draw from torch's global generator; forking it keeps the caller's
        # stream (the in-memory path runs here, in the training process) untouched.
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(sample_seed(self.seed, epoch, index))
            if self.task is None:
                out = self.transform(image)
            else:
                out, target = self.task.transform_sample(self.transform, image, target)
        return out.contiguous(), target


class WaveAugment:
    """An audio clip's augmentation (:class:`compressor.training.audio_augment.AudioAugment`)
    in the call a split makes: ``(wave, target, index, epoch) -> (wave, target)``; picklable."""

    def __init__(self, augment: Any) -> None:
        self.augment = augment

    def __call__(
        self, wave: torch.Tensor, target: torch.Tensor, index: int, epoch: int
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """``wave`` augmented as sample ``index`` is in ``epoch``; the target as it is."""
        out: torch.Tensor = self.augment(wave, index, epoch)
        return out, target


class PerSample:
    """The training split's per-sample augmentation, on whichever path the split is served.

    Args:
        config: The validated ``AugmentConfig`` (``None``: nothing to do).
        mean: Per-channel mean the inputs are normalized with (one value: all channels).
        std: Per-channel standard deviation.
        image_size: ``(height, width)`` of the training inputs.
        seed: The stage's seed (each sample index gets its own stream, so ranks need none).
        task: The run's task, which moves a sample's target with it (see :class:`SampleAugment`).
        sample_rate: For audio clips, their rate: the waveform keys of ``config`` (time shift,
            gain, background noise) apply instead of the image ones.
    """

    def __init__(
        self,
        config: Any,
        mean: Sequence[float],
        std: Sequence[float],
        image_size: Sequence[int],
        seed: int,
        task: Any = None,
        sample_rate: int | None = None,
    ) -> None:
        self.waves = sample_rate is not None
        self.augment = self._built(config, image_size, seed, task, sample_rate)
        self.mean = torch.tensor([float(v) for v in mean], dtype=torch.float32).view(-1, 1, 1)
        self.std = torch.tensor([float(v) for v in std], dtype=torch.float32).view(-1, 1, 1)
        self._views: dict[int, StreamedSplit] = {}

    @staticmethod
    def _built(
        config: Any, image_size: Sequence[int], seed: int, task: Any, sample_rate: int | None
    ) -> Any:
        """The per-sample augmentation ``config`` asks for, or ``None``."""
        if config is None:
            return None
        if sample_rate is not None:
            if not config.audio:
                return None
            from compressor.training.audio_augment import AudioAugment

            return WaveAugment(AudioAugment(config, seed, sample_rate))
        options = getattr(config, "task_options", None)
        if task is not None and options is not None:
            # The task's own keys (detection's box-aware crops and flips): the recipe validator
            # refuses the v2 keys next to them for a spatial task.
            built = task.sample_augment(options, seed)
            if built is not None:
                return built
        transform = build_transform(config, image_size)
        return SampleAugment(transform, seed, task) if transform is not None else None

    @property
    def active(self) -> bool:
        """Whether training batches change between epochs (no teacher-output cache then)."""
        return self.augment is not None

    def source(self, split: DataSplit, epoch: int) -> DataSplit:
        """What to read ``epoch``'s batches from: a streamed split's augmenting view (its
        workers apply the transform; the view is made once and keeps its workers), else
        ``split`` itself (then :meth:`on_batch` applies it)."""
        if self.augment is None or not _decodes(split):
            return split
        assert isinstance(split, StreamedSplit)
        view = self._views.get(id(split))
        if view is None:
            view = self._views[id(split)] = split.augmented(self.augment)
        view.epoch = epoch
        return view

    def on_batch(
        self, split: DataSplit, x: torch.Tensor, y: torch.Tensor, idx: torch.Tensor, epoch: int
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """``x``, normalized inputs of ``split``'s rows ``idx``, and their targets ``y``,
        augmented sample by sample; as given when ``split``'s workers already augmented them
        (see :meth:`source`)."""
        if self.augment is None or _decodes(split):
            return x, y
        if self.waves:  # waveforms: nothing normalized, nothing to undo
            pairs = [
                self.augment(wave, target, int(index), epoch)
                for wave, target, index in zip(x.cpu(), y.cpu(), idx.tolist(), strict=True)
            ]
            waves = torch.stack([wave for wave, _ in pairs]).to(x.device)
            return waves, torch.stack([target for _, target in pairs]).to(y.device)
        if x.dim() != 4:
            return x, y
        mean, std = self.mean.to(x.device), self.std.to(x.device)
        images = (x * std + mean).clamp(0.0, 1.0)
        pairs = [
            self.augment(image, target, int(index), epoch)
            for image, target, index in zip(images, y, idx.tolist(), strict=True)
        ]
        augmented = torch.stack([image for image, _ in pairs])
        targets = torch.stack([target for _, target in pairs]).to(y.device)
        return ((augmented - mean) / std).contiguous(), targets


def _decodes(split: DataSplit) -> bool:
    """Whether ``split`` decodes samples itself (a streamed split with preprocessing)."""
    return isinstance(split, StreamedSplit) and split.preprocessing is not None
