"""Built-in datasets on their real shipped data: splits, determinism, normalization, errors."""

from __future__ import annotations

import hashlib
import struct
from collections import Counter
from importlib.resources import files
from pathlib import Path

import numpy as np
import pytest
import torch
from compressor_datasets.shipped import read_shipped
from pydantic import ValidationError

from compressor.data import DataBundle, Split
from compressor.errors import UsageError

#: name -> (samples in the dataset, input shape) for the default (offline) options.
DATASETS = {"digits": (1797, (1, 8, 8)), "mnist": (5000, (1, 28, 28))}

_cache: dict[tuple[str, int, tuple[tuple[str, object], ...]], DataBundle] = {}


@pytest.fixture
def load(registry):
    """Load a dataset through the registry, once per (name, seed, options) in this module."""

    def load(name: str, seed: int = 0, **options: object) -> DataBundle:
        key = (name, seed, tuple(sorted(options.items())))
        if key not in _cache:
            record = registry.get("dataset", name)
            _cache[key] = record.build(record.options.model_validate(options), seed=seed)
        return _cache[key]

    return load


def _row_hashes(split: Split) -> list[str]:
    return [hashlib.sha1(row.numpy().tobytes()).hexdigest() for row in split.x]


def _splits(bundle: DataBundle) -> list[Split]:
    return [bundle.train, bundle.val, bundle.test]


@pytest.mark.parametrize("name", DATASETS)
def test_bundle_shapes_dtypes_and_sizes(load, name: str) -> None:
    total, shape = DATASETS[name]
    bundle = load(name)
    assert bundle.name == name
    assert bundle.input_shape == shape
    assert bundle.num_classes == 10
    assert bundle.class_names == [str(d) for d in range(10)]
    for split in _splits(bundle):
        assert split.x.dtype == torch.float32 and split.y.dtype == torch.int64
        assert split.x.shape[1:] == shape
        assert set(split.y.unique().tolist()) == set(range(10))
    assert sum(len(s) for s in _splits(bundle)) == total
    # Defaults: 20% test, 15% validation, up to per-class rounding.
    assert abs(len(bundle.test) - 0.2 * total) <= 10
    assert abs(len(bundle.val) - 0.15 * total) <= 10


@pytest.mark.parametrize("name", DATASETS)
def test_splits_do_not_overlap(load, name: str) -> None:
    # Both datasets have no duplicate images, and every split is normalized by the same affine
    # map, so equal rows across splits could only mean a sample landed in two splits.
    total, _ = DATASETS[name]
    hashes = [h for split in _splits(load(name)) for h in _row_hashes(split)]
    assert len(set(hashes)) == total


@pytest.mark.parametrize("name", DATASETS)
def test_split_is_deterministic_for_a_seed(registry, load, name: str) -> None:
    first = load(name, seed=0)
    record = registry.get("dataset", name)
    again = record.build(record.options.model_validate({}), seed=0)
    for a, b in zip(_splits(first), _splits(again), strict=True):
        assert torch.equal(a.x, b.x) and torch.equal(a.y, b.y)
    other = load(name, seed=1)
    assert set(_row_hashes(first.test)) != set(_row_hashes(other.test))
    assert len(other.test) == len(first.test)


@pytest.mark.parametrize("name", DATASETS)
def test_class_balance_is_preserved(load, name: str) -> None:
    bundle = load(name)
    labels = torch.cat([s.y for s in _splits(bundle)])
    overall = torch.bincount(labels, minlength=10).double() / len(labels)
    for split in _splits(bundle):
        share = torch.bincount(split.y, minlength=10).double() / len(split)
        assert torch.allclose(share, overall, atol=0.02), (share, overall)


@pytest.mark.parametrize("name", DATASETS)
def test_normalized_with_training_statistics(load, name: str) -> None:
    bundle = load(name)
    assert abs(bundle.train.x.mean().item()) < 1e-4
    assert abs(bundle.train.x.std(correction=0).item() - 1.0) < 1e-3
    # mean/std are recorded in the 0..1 pixel scale: undoing them gives pixels in [0, 1].
    (mean,), (std,) = bundle.mean, bundle.std
    assert 0.0 < mean < 1.0 and 0.0 < std < 1.0
    pixels = torch.cat([s.x for s in _splits(bundle)]) * std + mean
    assert pixels.min().item() == pytest.approx(0.0, abs=1e-5)
    assert pixels.max().item() == pytest.approx(1.0, abs=1e-5)
    # Validation and test are normalized with the training statistics, not their own.
    assert abs(bundle.test.x.mean().item()) < 0.1 and bundle.test.x.mean().item() != 0.0


def test_digits_are_the_shipped_uci_digits_scaled_to_unit_range(load) -> None:
    bundle = load("digits")
    pixels = torch.cat([s.x for s in _splits(bundle)]).flatten(1) * bundle.std[0] + bundle.mean[0]
    levels = (pixels * 16).round()
    assert torch.allclose(levels / 16, pixels, atol=1e-5)
    ours = {row.astype(np.uint8).tobytes() for row in levels.numpy()}
    raw, labels = read_shipped("digits.csv.gz", 64)
    assert ours == {row.tobytes() for row in raw}
    # The UCI test set's class counts, as scikit-learn's copy has them.
    assert np.bincount(labels).tolist() == [178, 182, 177, 183, 181, 182, 181, 179, 174, 180]


@pytest.mark.parametrize("name", ["digits.csv.gz", "mnist_5k.csv.gz"])
def test_shipped_files_are_the_ones_their_readme_names(name: str) -> None:
    data = files("compressor_datasets").joinpath("data")
    digest = hashlib.sha256(data.joinpath(name).read_bytes()).hexdigest()
    readme = data.joinpath("README.md").read_text(encoding="utf-8")
    row = next(line for line in readme.splitlines() if line.startswith(f"| `{name}`"))
    assert f"`{digest}`" in row, f"{name} is not the file data/README.md describes"


def test_a_damaged_shipped_file_is_a_usage_error() -> None:
    with pytest.raises(UsageError, match="missing; reinstall compressor"):
        read_shipped("nothing.csv.gz", 64)
    with pytest.raises(UsageError, match="expected 785 columns per row, got"):
        read_shipped("digits.csv.gz", 784)


def test_fractions_change_the_split_sizes(load) -> None:
    bundle = load("digits", val_fraction=0.1, test_fraction=0.1)
    assert abs(len(bundle.val) - 180) <= 10 and abs(len(bundle.test) - 180) <= 10
    assert len(bundle.train) + len(bundle.val) + len(bundle.test) == 1797


def test_mnist_limit_caps_the_training_split(load) -> None:
    full, capped = load("mnist"), load("mnist", limit=100)
    assert len(capped.train) == 100
    assert len(capped.val) == len(full.val) and len(capped.test) == len(full.test)
    assert len(set(capped.train.y.tolist())) == 10


@pytest.mark.parametrize("name", DATASETS)
@pytest.mark.parametrize(
    "options",
    [
        {"val_fraction": 0},
        {"val_fraction": 0.9},
        {"test_fraction": 0},
        {"test_fraction": 0.6},
        {"val_fraction": 0.5, "test_fraction": 0.5},
        {"shuffle": True},
    ],
)
def test_option_validation(registry, name: str, options: dict[str, object]) -> None:
    with pytest.raises(ValidationError):
        registry.get("dataset", name).options.model_validate(options)


@pytest.mark.parametrize("options", [{"limit": 5}, {"download": True}])
def test_mnist_option_validation(registry, options: dict[str, object]) -> None:
    with pytest.raises(ValidationError):
        registry.get("dataset", "mnist").options.model_validate(options)


def test_mnist_root_without_files_is_a_usage_error(registry, tmp_path: Path) -> None:
    record = registry.get("dataset", "mnist")
    options = record.options.model_validate({"root": str(tmp_path / "nowhere")})
    with pytest.raises(UsageError) as caught:
        record.build(options, seed=0)
    message = str(caught.value)
    assert "data.options.root" in message and str(tmp_path / "nowhere") in message
    assert "download: true" in message and "5,000" in message
    assert "\n" not in message
    assert not (tmp_path / "nowhere").exists() or not any((tmp_path / "nowhere").rglob("*-ubyte"))


def _write_idx(path: Path, array: np.ndarray) -> None:
    # The IDX format torchvision reads: magic (0, 0, ubyte=0x08, ndim), big-endian dims, data.
    header = struct.pack(">BBBB", 0, 0, 0x08, array.ndim) + struct.pack(
        f">{array.ndim}I", *array.shape
    )
    path.write_bytes(header + array.astype(np.uint8).tobytes())


def test_mnist_root_uses_the_official_sets(registry, tmp_path: Path) -> None:
    # A miniature MNIST folder in torchvision's layout, built from the shipped real digits.
    shipped = registry.get("dataset", "mnist")
    bundle = shipped.build(shipped.options.model_validate({}), seed=0)
    pixels = torch.cat([s.x for s in _splits(bundle)]) * bundle.std[0] + bundle.mean[0]
    images = (pixels.squeeze(1) * 255).round().clamp(0, 255).to(torch.uint8).numpy()
    labels = torch.cat([s.y for s in _splits(bundle)]).numpy()
    raw = tmp_path / "MNIST" / "raw"
    raw.mkdir(parents=True)
    _write_idx(raw / "train-images-idx3-ubyte", images[:400])
    _write_idx(raw / "train-labels-idx1-ubyte", labels[:400])
    _write_idx(raw / "t10k-images-idx3-ubyte", images[400:500])
    _write_idx(raw / "t10k-labels-idx1-ubyte", labels[400:500])

    options = shipped.options.model_validate({"root": str(tmp_path), "val_fraction": 0.25})
    result = shipped.build(options, seed=0)
    assert len(result.train) + len(result.val) == 400
    assert abs(len(result.val) - 100) <= 10
    assert len(result.test) == 100
    assert Counter(result.test.y.tolist()) == Counter(labels[400:500].tolist())
    assert abs(result.train.x.mean().item()) < 1e-4
    assert result.input_shape == (1, 28, 28)
    assert not set(_row_hashes(result.test)) & set(_row_hashes(result.train))
