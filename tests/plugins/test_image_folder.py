"""``image_folder``: class folders of real image files, their splits, channels and bad files."""

from __future__ import annotations

import logging
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from compressor.data import prepare_bundle
from compressor.data.images import ImageFiles, unreadable
from compressor.errors import RecipeError, UsageError
from compressor.testing import check_dataset
from tests.plugins.image_folders import VARIETY, class_folder, truncated_jpeg, write_image

PREPROCESS = {"resize": [12, 12], "mean": "auto", "std": "auto"}


def _load(registry, seed: int = 0, **options):
    record = registry.get("dataset", "image_folder")
    return record.build(record.options.model_validate(options), seed=seed)


def test_every_format_and_mode_is_read_with_the_channels_asked(registry, tmp_path) -> None:
    root = class_folder(tmp_path / "train", {"cat": 6, "dog": 6}, variety=True)
    (root / "cat" / "notes.txt").write_text("not an image")  # other files are ignored
    for channels, mode in ((3, "RGB"), (1, "L")):
        bundle = check_dataset(
            "image_folder",
            {"train_root": str(root), "channels": channels, "val_fraction": 0.25},
            preprocess=PREPROCESS,
        )
        assert bundle.input_shape == (channels, 12, 12)
        files = [bundle.split(s).dataset for s in ("train", "val", "test")]
        assert sum(len(f) for f in files) == 2 * (6 + len(VARIETY))
        modes = {files[0][i][0].mode for i in range(len(files[0]))}
        assert modes == {mode}
    assert not any(str(p).endswith(".txt") for p in files[0].paths)


def test_classes_are_the_sorted_subfolders_and_the_split_is_stratified(registry, tmp_path):
    root = class_folder(tmp_path / "train", {"zebra": 20, "ant": 40, "bee": 20})
    (root / ".hidden").mkdir()  # a hidden folder is no class
    bundle = _load(registry, train_root=str(root), val_fraction=0.25, test_fraction=0.25)
    assert bundle.class_names == ["ant", "bee", "zebra"] and bundle.num_classes == 3
    train, val, test = bundle.train, bundle.val, bundle.test
    assert isinstance(train, ImageFiles)
    assert Counter(val.targets.tolist()) == {0: 10, 1: 5, 2: 5}
    assert Counter(test.targets.tolist()) == {0: 10, 1: 5, 2: 5}
    assert len(train) == 40
    assert not set(train.paths) & set(val.paths) and not set(val.paths) & set(test.paths)
    # numpy arrays, not Python lists: workers do not copy them page by page.
    assert isinstance(train._blob, np.ndarray) and train.targets.dtype == np.int64
    assert isinstance(train.targets, np.ndarray)
    assert train.sample_name(0) == str(train.paths[0]) and "/train/" in train.sample_name(0)
    label_of = {name: i for i, name in enumerate(bundle.class_names)}
    assert all(label_of[Path(p).parent.name] == t for p, t in zip(train.paths, train.targets))
    again = _load(registry, train_root=str(root), val_fraction=0.25, test_fraction=0.25)
    assert list(again.val.paths) == list(val.paths)
    other = _load(registry, train_root=str(root), val_fraction=0.25, test_fraction=0.25, seed=1)
    assert list(other.val.paths) != list(val.paths)


def test_val_and_test_folders_are_used_as_they_are(registry, tmp_path) -> None:
    train = class_folder(tmp_path / "train", {"a": 8, "b": 8})
    val = class_folder(tmp_path / "val", {"a": 3, "b": 2}, seed=50)
    test = class_folder(tmp_path / "test", {"a": 4, "b": 4}, seed=90)
    bundle = _load(registry, train_root=str(train), val_root=str(val), test_root=str(test))
    assert (len(bundle.train), len(bundle.val), len(bundle.test)) == (16, 5, 8)
    assert all("/val/" in p for p in bundle.val.paths)
    only_val = _load(registry, train_root=str(train), val_root=str(val), test_fraction=0.25)
    assert (len(only_val.train), len(only_val.val), len(only_val.test)) == (12, 5, 4)


def test_folders_with_other_classes_are_an_error_naming_them(registry, tmp_path) -> None:
    train = class_folder(tmp_path / "train", {"cat": 4, "dog": 4, "emu": 4})
    val = class_folder(tmp_path / "val", {"cat": 2, "dog": 2, "fox": 2})
    with pytest.raises(RecipeError) as caught:
        _load(registry, train_root=str(train), val_root=str(val))
    assert str(caught.value) == (
        "data.options.val_root: its class folders differ from data.options.train_root's "
        "(only in train_root: emu; only in val_root: fox); give both the same class subfolders"
    )


def test_bad_folders_are_one_line_errors_naming_the_field(registry, tmp_path) -> None:
    missing = tmp_path / "nope"
    with pytest.raises(
        RecipeError, match=f"^data.options.train_root: folder not found: {missing}$"
    ):
        _load(registry, train_root=str(missing))
    (tmp_path / "empty").mkdir()
    with pytest.raises(RecipeError, match=r"train_root: \S+empty is empty; put each class's"):
        _load(registry, train_root=str(tmp_path / "empty"))
    loose = tmp_path / "loose"
    write_image(loose / "x.png")
    with pytest.raises(RecipeError, match="has 1 images but no class subfolders.*labels: false"):
        _load(registry, train_root=str(loose))
    root = class_folder(tmp_path / "train", {"a": 3, "b": 3})
    (root / "c").mkdir()
    with pytest.raises(RecipeError, match=r"class folder \S+/train/c holds no images \(ext"):
        _load(registry, train_root=str(root))
    one = class_folder(tmp_path / "one", {"a": 3})
    with pytest.raises(RecipeError, match=r"has one class folder \(a\); a classifier needs"):
        _load(registry, train_root=str(one))
    small = class_folder(tmp_path / "small", {"a": 2, "b": 2})
    with pytest.raises(RecipeError, match="data.options.val_fraction: leaves the val split empty"):
        _load(registry, train_root=str(small), val_fraction=0.1, test_fraction=0.1)


def test_a_truncated_or_fake_image_is_an_error_naming_the_file(registry, tmp_path) -> None:
    root = class_folder(tmp_path / "train", {"a": 6, "b": 6})
    bad = truncated_jpeg(root / "b" / "cut.jpg")
    assert unreadable(bad) is not None and unreadable(root / "a" / "000.png") is None
    with pytest.raises(UsageError) as caught:
        _load(registry, train_root=str(root))
    message = str(caught.value)
    assert message.startswith(f"{bad}: cannot read the image (OSError: Truncated File Read)")
    assert message.endswith("or set data.options.skip_unreadable: true to leave such files out")
    (root / "a" / "fake.png").write_text("hello")
    with pytest.raises(UsageError, match=r"\(2 unreadable files in all\)"):
        _load(registry, train_root=str(root))


def test_skip_unreadable_leaves_them_out_and_counts_them(registry, tmp_path, caplog) -> None:
    root = class_folder(tmp_path / "train", {"a": 6, "b": 6})
    truncated_jpeg(root / "b" / "cut.jpg")
    (root / "a" / "fake.png").write_bytes(b"\x89PNG not really")
    with caplog.at_level(logging.WARNING, logger="compressor"):
        bundle = _load(registry, train_root=str(root), skip_unreadable=True)
    assert sum(len(bundle.split(s)) for s in ("train", "val", "test")) == 12
    assert bundle.describe()["skipped_unreadable"] == 2
    assert "left out 2 unreadable files" in caplog.text
    clean = _load(registry, train_root=str(class_folder(tmp_path / "ok", {"a": 6, "b": 6})))
    assert "skipped_unreadable" not in clean.describe()


def test_a_jpeg_without_its_end_marker_that_decodes_is_kept(tmp_path) -> None:
    # Some writers pad or append data after the image: only a failed decode counts.
    path = write_image(tmp_path / "x.jpg", size=(16, 16))
    path.write_bytes(path.read_bytes() + b"\x00" * 200)
    assert unreadable(path) is None


def test_unlabeled_images_are_read_at_any_depth(registry, tmp_path) -> None:
    root = tmp_path / "pool"
    for i, (name, mode, size) in enumerate(VARIETY):
        write_image(root / f"d{i % 3}" / "deeper" / name, mode, size, seed=i)
    write_image(root / "top.jpg")
    bundle = _load(registry, train_root=str(root), labels=False, val_fraction=0.2)
    sizes = [len(bundle.split(s)) for s in ("train", "val", "test")]
    assert sum(sizes) == len(VARIETY) + 1 and min(sizes) >= 1
    assert set(bundle.train.targets.tolist()) == {-1} and bundle.num_classes == 0
    served = prepare_bundle(bundle, _settings(resize=[8, 8]))
    assert served.input_shape == (3, 8, 8)
    with pytest.raises(RecipeError, match="holds no images .* at any depth"):
        (tmp_path / "nothing").mkdir()
        _load(registry, train_root=str(tmp_path / "nothing"), labels=False)


def _settings(**preprocess):
    from types import SimpleNamespace

    from compressor.recipe import PreprocessConfig

    spec = PreprocessConfig.model_validate(preprocess)
    return SimpleNamespace(in_memory=False, num_workers=0, preprocess=spec)


def test_option_validation(registry) -> None:
    options = registry.get("dataset", "image_folder").options
    with pytest.raises(ValueError, match="train_root"):
        options.model_validate({})
    with pytest.raises(ValueError, match="channels"):
        options.model_validate({"train_root": "x", "channels": 4})
    with pytest.raises(ValueError, match="skip_unreadable: true needs check_files: true"):
        options.model_validate({"train_root": "x", "skip_unreadable": True, "check_files": False})
