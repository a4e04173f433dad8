"""``import``: datasets returned by the user's own factory, named as ``package.module:callable``."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pytest
from torch.utils.data import Dataset

from compressor.errors import RecipeError
from compressor.testing import check_dataset

HERE = "tests.plugins.test_import_dataset"


class Arrays(Dataset):
    """``n`` 6x6 grey arrays whose brightness is their label (0..classes-1)."""

    def __init__(self, n: int, classes: int = 3, *, named: bool = False, targets: bool = True):
        self.n, self.count = n, classes
        if named:
            self.classes = [f"class_{i}" for i in range(classes)]
        if targets:
            self.targets = [i % classes for i in range(n)]

    def __len__(self) -> int:
        return self.n

    def __getitem__(self, index: int):
        label = index % self.count
        return np.full((6, 6), 40 * label + index % 7, dtype=np.uint8), label


def one(n: int = 60, named: bool = False, targets: bool = True) -> Arrays:
    return Arrays(n, named=named, targets=targets)


def keyed() -> dict[str, Arrays]:
    return {"train": Arrays(40, named=True), "test": Arrays(12)}


def three() -> tuple[Arrays, Arrays, Arrays]:
    return Arrays(30), Arrays(9), Arrays(9)


def not_a_dataset() -> str:
    return "data/train.csv"


def numbers() -> list[int]:
    return [1, 2, 3]


def bad_split() -> dict[str, object]:
    return {"train": Arrays(30), "val": 42}


def broken() -> Arrays:
    raise FileNotFoundError("no such file: /data/labels.csv")


def _load(registry, seed: int = 0, **options):
    record = registry.get("dataset", "import")
    return record.build(record.options.model_validate(options), seed=seed)


def test_one_dataset_is_cut_into_stratified_splits(registry) -> None:
    options = {"factory": f"{HERE}:one", "kwargs": {"n": 60}, "val_fraction": 0.2}
    bundle = check_dataset("import", options, preprocess={"mean": "auto", "std": "auto"})
    assert bundle.input_shape == (1, 6, 6) and bundle.class_names == ["0", "1", "2"]
    raw = _load(registry, **options)
    assert (len(raw.train), len(raw.val), len(raw.test)) == (36, 12, 12)
    assert Counter(raw.val[i][1] for i in range(len(raw.val))) == {0: 4, 1: 4, 2: 4}
    # Without targets, every item is read once for its label, in this process.
    untargeted = _load(registry, factory=f"{HERE}:one", kwargs={"targets": False})
    assert len(untargeted.train) + len(untargeted.val) + len(untargeted.test) == 60


def test_class_names_from_the_dataset_or_the_options(registry) -> None:
    assert _load(registry, factory=f"{HERE}:one", kwargs={"named": True}).class_names == [
        "class_0",
        "class_1",
        "class_2",
    ]
    given = _load(registry, factory=f"{HERE}:one", class_names=["r", "g", "b"])
    assert given.class_names == ["r", "g", "b"] and given.num_classes == 3
    wider = _load(registry, factory=f"{HERE}:one", num_classes=5)
    assert wider.num_classes == 5


def test_a_dict_or_a_tuple_gives_the_splits(registry) -> None:
    bundle = _load(registry, factory=f"{HERE}:keyed", val_fraction=0.25)
    assert (len(bundle.train), len(bundle.val), len(bundle.test)) == (30, 10, 12)
    assert bundle.class_names == ["class_0", "class_1", "class_2"]
    bundle = _load(registry, factory=f"{HERE}:three")
    assert (len(bundle.train), len(bundle.val), len(bundle.test)) == (30, 9, 9)


@pytest.mark.parametrize(
    ("factory", "expected"),
    [
        ("not_a_dataset", "returned str; it must return a map-style torch.utils.data.Dataset"),
        ("numbers", "returned int as its train split; it must return a map-style"),
        ("bad_split", "returned int as its val split; it must return a map-style"),
        ("broken", "raised FileNotFoundError: no such file: /data/labels.csv"),
    ],
)
def test_a_factory_that_returns_no_dataset_is_one_line_naming_the_field(
    registry, factory: str, expected: str
) -> None:
    with pytest.raises(RecipeError) as caught:
        _load(registry, factory=f"{HERE}:{factory}")
    message = str(caught.value)
    assert message.startswith(f"data.options.factory: {HERE}:{factory} {expected}")
    assert "\n" not in message


def test_a_factory_that_cannot_be_imported(registry) -> None:
    with pytest.raises(
        RecipeError, match=r"^data.options.factory: cannot import 'nope.mod:f': Mod"
    ):
        _load(registry, factory="nope.mod:f")
    with pytest.raises(ValueError, match="factory"):
        _load(registry, factory="no_colon")
