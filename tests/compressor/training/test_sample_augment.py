"""Per-sample augmentation: seeded per (seed, epoch, index) on both paths, and consistent teaching."""

from __future__ import annotations

import pytest
import torch

from compressor.data import DataBundle, Preprocessing, StreamedSplit, materialize
from compressor.recipe import AugmentConfig
from compressor.training import WeightedLoss
from compressor.training.sample_augment import PerSample, SampleAugment, build_transform
from tests.compressor.data.samples import Images
from tests.compressor.training.test_loop import _Recorder
from tests.compressor.training.toy import KL, fit_toy

MEAN, STD = (0.5, 0.4, 0.3), (0.25, 0.2, 0.3)
PREP = Preprocessing(resize=(8, 8), mean=MEAN, std=STD, value_range=(0.0, 255.0))
HEAVY = AugmentConfig(
    random_resized_crop={"scale": [0.3, 1.0]},
    color_jitter={"brightness": 0.4, "contrast": 0.4, "saturation": 0.4, "hue": 0.1},
    rand_augment={"num_ops": 2, "magnitude": 9},
    trivial_augment=True,
)
ORDER = torch.tensor([5, 0, 17, 3, 11, 8, 2, 19, 1, 14])


def _split(workers: int = 0) -> StreamedSplit:
    return StreamedSplit(Images(20), preprocessing=PREP, name="train", num_workers=workers)


def _augmenter(config: AugmentConfig = HEAVY, seed: int = 3) -> SampleAugment:
    return SampleAugment(build_transform(config, (8, 8)), seed)


def _pass(split: StreamedSplit, epoch: int) -> torch.Tensor:
    split.epoch = epoch
    return torch.cat([x for _, x, _ in split.batches(4, order=ORDER)])


def test_streamed_batches_do_not_depend_on_the_number_of_workers() -> None:
    in_process = _split(0).augmented(_augmenter())
    workers = _split(2).augmented(_augmenter())
    first = _pass(in_process, 1)
    assert torch.equal(first, _pass(workers, 1))
    assert torch.equal(_pass(in_process, 2), _pass(workers, 2))
    assert torch.equal(first, _pass(workers, 1))  # the same epoch again: the same images
    assert not torch.equal(first, _pass(in_process, 2))  # a new epoch: new draws
    plain = _split(0).take(ORDER)
    assert first.shape == plain.shape and not torch.allclose(first, plain, atol=0.05)
    workers.close()


def test_the_in_memory_path_augments_each_sample_as_the_streamed_path() -> None:
    held = materialize(_split(0))
    per_sample = PerSample(HEAVY, MEAN, STD, (8, 8), seed=3)
    assert per_sample.source(held, 1) is held  # in memory: augmented per batch instead
    streamed_view = per_sample.source(_split(0), 1)
    assert streamed_view is not held
    x, y = held.take(ORDER), held.labels[ORDER]
    state = torch.get_rng_state()
    augmented, targets = per_sample.on_batch(held, x, y, ORDER, 1)
    assert torch.equal(torch.get_rng_state(), state)  # the run's own random stream is untouched
    torch.testing.assert_close(augmented, _pass(streamed_view, 1), atol=1e-4, rtol=0)
    assert torch.equal(targets, y)  # a classification target does not move
    assert per_sample.on_batch(streamed_view, x, y, ORDER, 1)[0] is x  # its workers did it


def test_an_augmentation_sees_the_scaled_image_before_normalization() -> None:
    seen: list[torch.Tensor] = []

    def record(
        image: torch.Tensor, target: torch.Tensor, index: int, epoch: int
    ) -> tuple[torch.Tensor, torch.Tensor]:
        seen.append(image.clone())
        return torch.zeros_like(image), target

    view = _split(0).augmented(record)
    x = view.take(torch.tensor([4]))
    assert torch.allclose(seen[-1], PREP.scaled(Images(20)[4][0]))
    expected = (0 - torch.tensor(MEAN)) / torch.tensor(STD)
    assert torch.allclose(x[0, :, 0, 0], expected)


@pytest.mark.parametrize("key", ["rand_augment", "trivial_augment", "color_jitter"])
def test_grey_images_augment(key: str) -> None:
    options = {"rand_augment": {}, "trivial_augment": True, "color_jitter": {"brightness": 0.5}}
    augment = _augmenter(AugmentConfig(**{key: options[key]}))
    image = torch.rand(1, 8, 8, generator=torch.Generator().manual_seed(0))
    outputs = [augment(image, torch.tensor(0), index, 0)[0] for index in range(8)]
    assert all(o.shape == (1, 8, 8) and 0 <= o.min() and o.max() <= 1 for o in outputs)
    assert any(not torch.equal(o, image) for o in outputs)


def test_random_resized_crop_size_defaults_to_the_input_size_or_is_given() -> None:
    image = torch.rand(3, 8, 6)
    label = torch.tensor(0)
    assert _augmenter(AugmentConfig(random_resized_crop=True))(image, label, 0, 0)[0].shape == (
        3,
        8,
        8,
    )
    sized = AugmentConfig(random_resized_crop={"size": [4, 5]})
    assert _augmenter(sized)(image, label, 0, 0)[0].shape == (3, 4, 5)


def _images_bundle(streamed: bool) -> DataBundle:
    train = _split(2 if streamed else 0)
    split = train if streamed else materialize(train)
    return DataBundle(
        name="images",
        train=split,
        val=split,
        test=split,
        num_classes=3,
        input_shape=(3, 8, 8),
        mean=MEAN,
        std=STD,
    )


@pytest.mark.parametrize("streamed", [False, True])
def test_the_teacher_sees_the_very_augmented_batch_and_nothing_is_cached(streamed: bool) -> None:
    teacher, student = _Recorder(_net()).eval(), _Recorder(_net())
    result = fit_toy(
        student,
        [teacher],
        [WeightedLoss("kl", 1.0, KL(), True)],
        data=_images_bundle(streamed),
        epochs=1,
        batch_size=8,
        augment=AugmentConfig(random_resized_crop={"scale": [0.2, 0.5]}),
    )
    assert result.teacher_cached is False
    train = student.seen[:3]  # 20 samples in batches of 8; validation comes after
    assert len(teacher.seen) == 3
    for s, t in zip(train, teacher.seen, strict=True):
        assert torch.equal(s, t)
    plain = _split(0)
    assert not any(torch.allclose(s, plain.take(torch.arange(len(s))), atol=0.05) for s in train)


def test_without_per_sample_keys_training_batches_are_unchanged() -> None:
    per_sample = PerSample(AugmentConfig(shift=2, flip=True), MEAN, STD, (8, 8), seed=0)
    split = _split(0)
    assert not per_sample.active and per_sample.source(split, 1) is split
    held = materialize(split)
    x, y = held.take(ORDER), held.labels[ORDER]
    assert per_sample.on_batch(held, x, y, ORDER, 1)[0] is x
    assert PerSample(None, MEAN, STD, (8, 8), seed=0).active is False


def _net() -> torch.nn.Module:
    return torch.nn.Sequential(
        torch.nn.Conv2d(3, 4, 3, padding=1),
        torch.nn.ReLU(),
        torch.nn.AdaptiveAvgPool2d(1),
        torch.nn.Flatten(),
        torch.nn.Linear(4, 3),
    )


@pytest.mark.parametrize("streamed", [False, True], ids=["in_memory", "streamed"])
def test_transfer_batches_are_augmented_and_taught_as_the_labelled_ones(streamed: bool) -> None:
    teacher, student = _Recorder(_net()).eval(), _Recorder(_net())
    data = _images_bundle(streamed)
    result = fit_toy(
        student,
        [teacher],
        [WeightedLoss("kl", 1.0, KL(), True)],
        data=data,
        transfer=data.train,
        transfer_mode="replace",
        epochs=1,
        batch_size=8,
        augment=AugmentConfig(random_resized_crop={"scale": [0.2, 0.5]}),
    )
    assert result.teacher_cached is False
    train = student.seen[:3]  # transfer batches only; validation comes after
    assert len(teacher.seen) == 3
    for s, t in zip(train, teacher.seen, strict=True):
        assert torch.equal(s, t)
    plain = _split(0)
    assert not any(torch.allclose(s, plain.take(torch.arange(len(s))), atol=0.05) for s in train)
