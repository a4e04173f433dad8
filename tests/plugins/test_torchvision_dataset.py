"""``torchvision``: the real torchvision classes reading miniature files written in their layout.

Nothing is downloaded: FashionMNIST's idx files and CIFAR10's pickled batches of a few samples
are written into tmp_path where torchvision looks for them.
"""

from __future__ import annotations

import hashlib
import pickle
import struct
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
from compressor_datasets import TorchvisionOptions
from compressor_datasets.samples import Labeled
from compressor_datasets.torchvision_data import official_splits
from torch.utils.data import Subset

from compressor.errors import RecipeError, UsageError
from compressor.testing import check_dataset

PREPROCESS = {"mean": "auto", "std": "auto"}


def _write_idx(path: Path, array: np.ndarray) -> None:
    header = struct.pack(">BBBB", 0, 0, 0x08, array.ndim) + struct.pack(
        f">{array.ndim}I", *array.shape
    )
    path.write_bytes(header + array.astype(np.uint8).tobytes())


def _fashion(root: Path, train: int = 60, test: int = 20) -> Path:
    """A FashionMNIST of ``train`` + ``test`` 28x28 images, six per class and more."""
    raw = root / "FashionMNIST" / "raw"
    raw.mkdir(parents=True)
    rng = np.random.default_rng(0)
    for prefix, n in (("train", train), ("t10k", test)):
        labels = np.arange(n) % 10
        images = rng.integers(0, 256, (n, 28, 28)) // (1 + labels[:, None, None])
        _write_idx(raw / f"{prefix}-images-idx3-ubyte", images)
        _write_idx(raw / f"{prefix}-labels-idx1-ubyte", labels)
    return root


def _load(registry, seed: int = 0, **options):
    record = registry.get("dataset", "torchvision")
    return record.build(record.options.model_validate(options), seed=seed)


def test_fashion_mnist_official_sets_and_a_stratified_val(registry, tmp_path) -> None:
    root = _fashion(tmp_path)
    options = {"name": "fashionmnist", "root": str(root), "val_fraction": 0.2}
    bundle = check_dataset("torchvision", options, preprocess=PREPROCESS)
    assert bundle.input_shape == (1, 28, 28)
    assert bundle.num_classes == 10 and bundle.class_names[:2] == ["T-shirt/top", "Trouser"]
    raw = _load(registry, **options)
    assert (len(raw.train), len(raw.val), len(raw.test)) == (50, 10, 20)
    assert Counter(raw.val.dataset.targets[raw.val.indices].tolist()) == dict.fromkeys(range(10), 1)
    # Labels come from torchvision's targets: a Subset of a Labeled with numpy targets.
    assert isinstance(raw.train, Subset) and isinstance(raw.train.dataset, Labeled)
    assert raw.train.dataset.sample_name(3) == "FashionMNIST item 3"
    assert raw.test[0][0].mode == "L"
    rgb = _load(registry, **options, channels=3)
    assert rgb.test[0][0].mode == "RGB" and rgb.describe()["torchvision_dataset"] == "FashionMNIST"


def _cifar(root: Path, monkeypatch) -> Path:
    """CIFAR10's python batches of a few samples, with torchvision told their checksums."""
    from torchvision.datasets import CIFAR10

    folder = root / "cifar-10-batches-py"
    folder.mkdir(parents=True)
    rng = np.random.default_rng(1)
    sums = {}
    for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
        entry = {
            "data": rng.integers(0, 256, (10, 3072), dtype=np.uint8),
            "labels": list(range(10)),
        }
        (folder / name).write_bytes(pickle.dumps(entry))
        sums[name] = hashlib.md5((folder / name).read_bytes()).hexdigest()
    names = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship"]
    (folder / "batches.meta").write_bytes(pickle.dumps({"label_names": [*names, "truck"]}))
    meta_sum = hashlib.md5((folder / "batches.meta").read_bytes()).hexdigest()
    # The real files' checksums are class attributes; the miniature files have their own.
    monkeypatch.setattr(CIFAR10, "train_list", [[n, sums[n]] for n in sums if n != "test_batch"])
    monkeypatch.setattr(CIFAR10, "test_list", [["test_batch", sums["test_batch"]]])
    monkeypatch.setattr(CIFAR10, "meta", {**CIFAR10.meta, "md5": meta_sum})
    return root


def test_cifar10_reads_its_batches(registry, tmp_path, monkeypatch) -> None:
    root = _cifar(tmp_path, monkeypatch)
    options = {"name": "CIFAR10", "root": str(root), "val_fraction": 0.2}
    bundle = check_dataset("torchvision", options, preprocess={"resize": [16, 16]})
    assert bundle.input_shape == (3, 16, 16) and bundle.class_names[-1] == "truck"
    raw = _load(registry, **options, channels=1)
    assert (len(raw.train), len(raw.val), len(raw.test)) == (40, 10, 10)
    assert raw.test[0][0].mode == "L" and raw.test[0][0].size == (32, 32)


def test_an_unknown_name_lists_close_matches(registry, tmp_path) -> None:
    with pytest.raises(RecipeError) as caught:
        _load(registry, name="CIFAR11", root=str(tmp_path))
    assert str(caught.value).startswith(
        "data.options.name: 'CIFAR11' is not a classification dataset of torchvision.datasets; "
        "did you mean 'CIFAR10'? valid choices: "
    )


def test_missing_files_say_which_files_go_where(registry, tmp_path) -> None:
    with pytest.raises(UsageError) as caught:
        _load(registry, name="FashionMNIST", root=str(tmp_path))
    message = str(caught.value)
    assert "\n" not in message
    assert message.startswith("data.options.root: torchvision's FashionMNIST files are not in")
    assert (
        f"train-images-idx3-ubyte, train-labels-idx1-ubyte, t10k-images-idx3-ubyte, "
        f"t10k-labels-idx1-ubyte in {tmp_path / 'FashionMNIST' / 'raw'}" in message
    )
    assert message.endswith("or set data.options.download: true on a machine with internet")
    with pytest.raises(UsageError, match=r"the folder \S+cifar-10-batches-py, extracted from "):
        _load(registry, name="CIFAR10", root=str(tmp_path))


def test_kwargs_may_not_set_what_the_plugin_sets(registry, tmp_path) -> None:
    with pytest.raises(RecipeError, match="^data.options.kwargs: sets train, which the"):
        _load(registry, name="MNIST", root=str(tmp_path), kwargs={"train": False})


class _SplitOnly:
    """A dataset with ``split`` in {"train", "val"} as ImageNet has, checked as torchvision does."""

    def __init__(self, root: str, split: str = "train", download: bool = False) -> None:
        from torchvision.datasets.utils import verify_str_arg

        self.split = verify_str_arg(split, "split", ("train", "val"))


def test_a_dataset_without_test_split_tests_on_its_val_split(tmp_path) -> None:
    options = TorchvisionOptions(name="ImageNet", root=str(tmp_path))
    found = official_splits(_SplitOnly, options)
    assert found["train"].split == "train" and found["test"].split == "val"
    assert found["val"] is None  # a stratified fraction of train, as for train=True datasets
