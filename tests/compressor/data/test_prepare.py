"""prepare_bundle: in memory or streamed as data.in_memory says, preprocessing, the defaults."""

from __future__ import annotations

import dataclasses
from types import SimpleNamespace

import pytest
import torch

from compressor.data import (
    DataBundle,
    Preprocessing,
    SampleError,
    Split,
    StreamedSplit,
    batches,
    memory,
    prepare_bundle,
)
from compressor.errors import RecipeError
from compressor.plugin.registry import Registry
from compressor.recipe import PreprocessConfig
from tests.compressor.data.samples import Images, tensor_split


def _config(**fields):
    defaults = {"in_memory": "auto", "memory_budget": "auto", "num_workers": 0, "preprocess": None}
    return SimpleNamespace(**{**defaults, **fields})


def _images_bundle(**fields) -> DataBundle:
    return DataBundle(
        name="images", train=Images(30), val=Images(9), test=Images(12), num_classes=3, **fields
    )


def _preprocess(**fields) -> PreprocessConfig:
    return PreprocessConfig.model_validate({"resize": [8, 8], **fields})


@pytest.fixture(scope="module")
def digits() -> DataBundle:
    record = Registry.load().get("dataset", "digits")
    return record.build(record.options.model_validate({}), seed=0)


def test_the_built_in_tensors_stay_in_memory_unless_in_memory_is_false(digits) -> None:
    held = prepare_bundle(digits, _config())
    assert held.train is digits.train and held.placement.in_memory
    assert held.placement.reason == "the dataset gives tensors, 449.2 KiB"
    streamed = prepare_bundle(digits, _config(in_memory=False, num_workers=2))
    assert isinstance(streamed.train, StreamedSplit) and not streamed.placement.in_memory
    assert streamed.train.num_workers == 2 and streamed.input_shape == (1, 8, 8)
    assert torch.equal(streamed.test.labels, digits.test.y)
    described = streamed.describe()
    assert described["in_memory"] is False
    assert described["loading"] == {
        "requested": "false",
        "estimated_bytes": 1797 * 64 * 4,
        "budget_bytes": memory.default_budget(),
        "num_workers": 2,
        "reason": "data.in_memory: false, 449.2 KiB",
    }
    # The built-in digits describe their deployment preprocessing: normalization of 0..16 pixels.
    assert described["preprocessing"]["value_range"] == [0.0, 16.0]
    assert described["preprocessing"]["mean"] == list(digits.mean)


def test_samples_fitting_the_budget_are_decoded_into_memory() -> None:
    bundle = prepare_bundle(_images_bundle(), _config(preprocess=_preprocess()))
    assert isinstance(bundle.train, Split) and bundle.train.x.shape == (30, 3, 8, 8)
    assert bundle.input_shape == (3, 8, 8) and bundle.placement.in_memory
    estimate = 51 * 3 * 8 * 8 * 4
    assert bundle.placement.estimated_bytes == estimate
    assert bundle.placement.reason.startswith("38.2 KiB decoded, within the ")
    assert bundle.preprocessing == Preprocessing(resize=(8, 8), value_range=(0.0, 255.0))


def test_samples_over_the_budget_stream_and_give_the_same_batches() -> None:
    streamed = prepare_bundle(
        _images_bundle(), _config(memory_budget=1000, preprocess=_preprocess())
    )
    assert isinstance(streamed.train, StreamedSplit) and not streamed.placement.in_memory
    assert streamed.placement.reason == "38.2 KiB decoded, over the 1000 B data.memory_budget"
    held = prepare_bundle(
        _images_bundle(), _config(in_memory=True, memory_budget=1000, preprocess=_preprocess())
    )
    assert isinstance(held.train, Split) and held.placement.reason.startswith(
        "data.in_memory: true"
    )
    a, b = torch.Generator().manual_seed(4), torch.Generator().manual_seed(4)
    for got, want in zip(
        batches(streamed.train, 8, shuffle=True, generator=a),
        batches(held.train, 8, shuffle=True, generator=b),
        strict=True,
    ):
        assert all(torch.equal(p, q) for p, q in zip(got, want, strict=True))


def test_mean_and_std_auto_come_from_the_training_samples() -> None:
    bundle = prepare_bundle(
        _images_bundle(), _config(preprocess=_preprocess(mean="auto", std="auto"))
    )
    raw = prepare_bundle(_images_bundle(), _config(preprocess=_preprocess()))
    pixels = raw.train.x.double()  # all 30 training samples: fewer than STATS_SAMPLES
    assert torch.allclose(
        torch.tensor(bundle.mean, dtype=torch.float64), pixels.mean(dim=(0, 2, 3))
    )
    assert torch.allclose(
        torch.tensor(bundle.std, dtype=torch.float64), pixels.std(dim=(0, 2, 3), correction=0)
    )
    assert bundle.preprocessing.mean == bundle.mean and len(bundle.mean) == 3
    normalized = bundle.train.x.double()
    assert torch.allclose(
        normalized.mean(dim=(0, 2, 3)), torch.zeros(3, dtype=torch.float64), atol=1e-5
    )
    # Validation and test are normalized with the training statistics, not their own.
    assert torch.allclose(
        bundle.test.x,
        (raw.test.x - torch.tensor(bundle.mean).view(3, 1, 1))
        / torch.tensor(bundle.std).view(3, 1, 1),
        atol=1e-6,
    )


def test_given_statistics_or_the_datasets_own_are_used() -> None:
    given = prepare_bundle(
        _images_bundle(), _config(preprocess=_preprocess(mean=[0.5], std=[0.25]))
    )
    assert given.mean == (0.5,) and given.preprocessing.std == (0.25,)
    own = prepare_bundle(_images_bundle(mean=(0.4, 0.4, 0.4), std=(0.2, 0.2, 0.2)), _config())
    assert own.preprocessing.mean == (0.4, 0.4, 0.4) and own.input_shape == (3, 12, 10)


def test_validate_decodes_nothing_but_the_first_sample() -> None:
    bundle = prepare_bundle(
        _images_bundle(), _config(preprocess=_preprocess(mean="auto", std="auto")), decode=False
    )
    assert isinstance(bundle.train, StreamedSplit) and bundle.placement.in_memory
    assert bundle.input_shape == (3, 8, 8) and bundle.mean == (0.0,)


def test_preprocess_for_tensors_and_mixed_splits_are_recipe_errors(digits) -> None:
    with pytest.raises(RecipeError) as caught:
        prepare_bundle(digits, _config(preprocess=_preprocess()))
    assert str(caught.value).startswith(
        "data.preprocess: dataset 'digits' gives preprocessed inputs"
    )
    mixed = dataclasses.replace(_images_bundle(), val=tensor_split())
    with pytest.raises(RecipeError, match="^data.dataset: dataset 'images' gives some splits"):
        prepare_bundle(mixed, _config())


def test_an_unreadable_first_sample_is_named() -> None:
    from tests.compressor.data.samples import Corrupt

    class FirstCorrupt(Corrupt):
        def __getitem__(self, index):
            return super().__getitem__(5 if index == 0 else index)

    bundle = dataclasses.replace(_images_bundle(), train=FirstCorrupt(8))
    with pytest.raises(
        SampleError, match=r"^data: cannot read train sample 0 \(images/000.png\): OSError"
    ):
        prepare_bundle(bundle, _config())


def test_the_default_budget_and_worker_count(monkeypatch) -> None:
    monkeypatch.setattr(memory, "physical_memory", lambda: 8 * memory.GIB)
    assert memory.default_budget() == 2 * memory.GIB
    monkeypatch.setattr(memory, "physical_memory", lambda: 64 * memory.GIB)
    assert memory.default_budget() == 4 * memory.GIB
    monkeypatch.setattr(memory, "physical_memory", lambda: None)
    assert memory.default_budget() == 2 * memory.GIB
    monkeypatch.delenv("LOCAL_WORLD_SIZE", raising=False)
    for cores, workers in ((1, 0), (2, 1), (4, 3), (16, 4)):
        monkeypatch.setattr(memory, "available_cores", lambda cores=cores: cores)
        assert memory.default_workers() == workers
    monkeypatch.setenv("LOCAL_WORLD_SIZE", "2")  # two torchrun processes share the cores
    monkeypatch.setattr(memory, "available_cores", lambda: 4)
    assert memory.default_workers() == 1
