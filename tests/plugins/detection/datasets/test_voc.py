"""``voc``: layouts, the box conversion, image modes and sizes, splits, and every fault."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
from compressor_detection.datasets import DATASET_RECORDS, VocOptions

from compressor.errors import RecipeError
from tests.plugins.detection.datasets.folders import small_voc, voc_image, write_image

VOC = next(r for r in DATASET_RECORDS if r.name == "voc")


def load(seed: int = 0, **options: Any) -> Any:
    return VOC.build(VocOptions(**options), seed=seed)


def names(data: Any) -> dict[str, list[str]]:
    """Each split's image files, sorted."""
    return {
        s: sorted(data.split(s).sample_name(i) for i in range(len(data.split(s))))
        for s in ("train", "val", "test")
    }


def find(data: Any, file: str) -> tuple[Any, int]:
    """The split holding the image ``file`` and its index there."""
    for name in ("train", "val", "test"):
        split = data.split(name)
        for i in range(len(split)):
            if Path(split.sample_name(i)).name == file:
                return split, i
    raise AssertionError(f"{file} is in no split")


def test_boxes_are_one_based_pixels_normalized_by_the_image_file(tmp_path: Path) -> None:
    # A 40x20 image: VOC's xmin 1..xmax 40 is the whole width; 11..30 covers pixels 10..29.
    voc_image(tmp_path, "a", (40, 20), [("dog", (1, 1, 40, 20), 0), ("cat", (11, 6, 30, 15), 1)])
    voc_image(tmp_path, "b", (30, 50), [("dog", (2, 3, 4, 5), 0)], mode="L", suffix=".png")
    voc_image(tmp_path, "c", (30, 50), [("dog", (2, 3, 4, 5), 0)], mode="P", suffix=".png")
    data = load(root=str(tmp_path), val_fraction=0.3, test_fraction=0.3)
    assert data.task == "detection" and data.modality == "image"
    assert data.class_names == ["cat", "dog"] and data.num_classes == 2
    everything = {
        data.split(s).sample_name(i): (data.split(s), i)
        for s in ("train", "val", "test")
        for i in range(len(data.split(s)))
    }
    split, i = everything[str(tmp_path / "JPEGImages" / "a.jpg")]
    image, target = split[i]
    assert image.mode == "RGB" and image.size == (40, 20)
    assert target.dtype == np.float32 and target.shape == (2, 6)
    np.testing.assert_allclose(target[0], [1, 0, 0, 1, 1, 0])
    np.testing.assert_allclose(target[1], [0, 10 / 40, 5 / 20, 30 / 40, 15 / 20, 1], rtol=1e-6)
    assert split.sizes[i].tolist() == [20, 40]
    np.testing.assert_array_equal(split.targets[i], target)


def test_modes_are_served_as_rgb_at_their_size_and_sizes_need_no_decoding(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    small_voc(tmp_path, 10)  # RGB, L, P, RGBA and CMYK images of ten sizes
    data = load(root=str(tmp_path))
    assert data.class_names == ["bird", "cat", "dog"]
    assert sum(data.describe()["sizes"].values()) == 10
    sizes = {}
    for name in ("train", "val", "test"):
        split = data.split(name)
        for i in range(len(split)):
            image, target = split[i]
            assert image.mode == "RGB"
            assert (image.size[1], image.size[0]) == tuple(split.sizes[i])
            assert ((target[:, 1:5] >= 0) & (target[:, 1:5] <= 1)).all()
            sizes[split.sample_name(i)] = tuple(split.sizes[i])
    # targets and sizes come from arrays, not from reading the images again
    from compressor_detection.datasets import samples

    monkeypatch.setattr(samples, "read_image", lambda *a: pytest.fail("decoded an image"))
    train = data.train
    assert [len(train.targets[i]) for i in range(len(train))] == list(train.targets.counts())
    assert all(sizes[train.sample_name(i)] == tuple(train.sizes[i]) for i in range(len(train)))


def test_a_wrong_xml_size_and_depth_are_reported_and_the_file_wins(tmp_path: Path) -> None:
    # The file: <depth>1</depth> on a colour JPEG, and a <size> that is not the image's.
    voc_image(tmp_path, "a", (40, 20), [("dog", (1, 1, 20, 10), 0)], stated=(80, 40), depth=1)
    small_voc(tmp_path, 6)
    data = load(root=str(tmp_path))
    assert data.details["annotation_size_disagrees"] == 1
    assert "a.xml says 80x40, the image is 40x20" in data.details["annotation_size_example"]
    assert data.details["annotation_depth_disagrees"] == 1
    split = next(
        data.split(s)
        for s in ("train", "val", "test")
        if any(data.split(s).sample_name(i).endswith("a.jpg") for i in range(len(data.split(s))))
    )
    i = next(i for i in range(len(split)) if split.sample_name(i).endswith("a.jpg"))
    np.testing.assert_allclose(split.targets[i][0, 1:5], [0, 0, 0.5, 0.5])


def test_image_set_lists_make_the_splits(tmp_path: Path) -> None:
    small_voc(tmp_path, 9)
    lists = tmp_path / "ImageSets" / "Main"
    lists.mkdir(parents=True)
    (lists / "train.txt").write_text("000000\n000001\n000002\n000003\n")
    (lists / "val.txt").write_text("000004\n000005\n")
    (lists / "test.txt").write_text("000006\n000007 \n\n000008\n")
    data = load(root=str(tmp_path))
    stems = {
        s: sorted(Path(data.split(s).sample_name(i)).stem for i in range(len(data.split(s))))
        for s in ("train", "val", "test")
    }
    assert stems == {
        "train": ["000000", "000001", "000002", "000003"],
        "val": ["000004", "000005"],
        "test": ["000006", "000007", "000008"],
    }
    assert data.describe()["sizes"] == {"train": 4, "val": 2, "test": 3}
    assert sum(data.details["boxes"].values()) == sum(
        len(data.split(s).targets.rows) for s in stems
    )
    unlisted = load(root=str(tmp_path), image_sets=False, val_fraction=0.2, test_fraction=0.2)
    assert unlisted.describe()["sizes"] == {"train": 5, "val": 2, "test": 2}


def test_fractions_split_by_image_seeded(tmp_path: Path) -> None:
    small_voc(tmp_path, 12)

    def names(data: Any) -> dict[str, list[str]]:
        return {
            s: sorted(data.split(s).sample_name(i) for i in range(len(data.split(s))))
            for s in ("train", "val", "test")
        }

    first, again, other = (
        names(load(seed=1, root=str(tmp_path))),
        names(load(seed=1, root=str(tmp_path))),
        names(load(seed=2, root=str(tmp_path))),
    )
    assert first == again and first != other
    every = first["train"] + first["val"] + first["test"]
    assert len(every) == len(set(every)) == 12


def test_the_flat_layout_and_a_val_root(tmp_path: Path) -> None:
    small_voc(tmp_path / "train", 6, layout=("images", "annotations"))
    small_voc(tmp_path / "val", 3, layout=("images", "annotations"))
    data = load(root=str(tmp_path / "train"), val_root=str(tmp_path / "val"), test_fraction=0.2)
    assert data.details["layout"] == "flat"
    assert data.describe()["sizes"] == {"train": 5, "val": 3, "test": 1}
    assert all("val" in Path(data.val.sample_name(i)).parts for i in range(3))
    voc_image(
        tmp_path / "val",
        "bad",
        (40, 20),
        [("dog", (5, 1, 4, 10), 0)],
        layout=("images", "annotations"),
    )
    with pytest.raises(
        RecipeError, match=r"^data.options.val_root: .*bad\.xml: object 1 \('dog'\): empty"
    ):
        load(root=str(tmp_path / "train"), val_root=str(tmp_path / "val"))


def test_difficult_boxes_are_flagged_or_left_out(tmp_path: Path) -> None:
    voc_image(tmp_path, "a", (40, 40), [("dog", (1, 1, 20, 20), 1), ("dog", (5, 5, 30, 30), 0)])
    voc_image(tmp_path, "b", (40, 40), [("dog", (1, 1, 20, 20), 0)])
    voc_image(tmp_path, "c", (40, 40), [("dog", (1, 1, 20, 20), 0)])
    kept = load(root=str(tmp_path), val_fraction=0.3, test_fraction=0.3)
    rows = np.concatenate([kept.split(s).targets.rows for s in ("train", "val", "test")])
    assert sorted(rows[:, 5].tolist()) == [0, 0, 0, 1]
    left = load(root=str(tmp_path), include_difficult=False, val_fraction=0.3, test_fraction=0.3)
    assert left.details["left_out"] == {"difficult boxes": 1}
    assert sum(left.details["boxes"].values()) == 3


FAULTS = {
    "box outside the image": ("a.xml", [("dog", (1, 1, 45, 10), 0)], "xmax 45"),
    "empty or inverted box": ("a.xml", [("dog", (20, 1, 20, 10), 0)], "xmin 20"),
    "malformed box": ("a.xml", [("dog", ("x", 1, 5, 10), 0)], "missing or not 4 numbers"),  # type: ignore[list-item]
    "unknown class": ("a.xml", [("dgo", (1, 1, 5, 10), 0)], "'dgo'"),
}


@pytest.mark.parametrize("fault", sorted(FAULTS))
def test_a_bad_box_is_one_line_naming_its_file_or_is_skipped_and_counted(
    tmp_path: Path, fault: str
) -> None:
    file, objects, shown = FAULTS[fault]
    small_voc(tmp_path, 6)
    voc_image(tmp_path, "a", (40, 20), [*objects, ("dog", (1, 1, 41, 21), 0)])
    options = {"root": str(tmp_path), "classes": ["bird", "cat", "dog"]}
    with pytest.raises(RecipeError) as caught:
        load(**options)
    message = str(caught.value)
    assert "\n" not in message and message.startswith("data.options.root: ")
    assert str(tmp_path / "Annotations" / file) in message and fault in message and shown in message
    assert "on_error: skip" in message
    data = load(**options, on_error="skip")
    assert data.details["skipped"] == {fault: 1}
    # the image stays, with its good box: 1 pixel beyond the edge is clipped, not a fault
    split, i = next(
        (data.split(s), i)
        for s in ("train", "val", "test")
        for i in range(len(data.split(s)))
        if data.split(s).sample_name(i).endswith("a.jpg")
    )
    np.testing.assert_allclose(split.targets[i][:, 1:5], [[0, 0, 1, 1]])


def test_image_and_file_faults_leave_the_image_out_when_skipped(tmp_path: Path) -> None:
    small_voc(tmp_path, 6)
    voc_image(tmp_path, "gone", (40, 20), [("dog", (1, 1, 5, 5), 0)])
    (tmp_path / "JPEGImages" / "gone.jpg").unlink()
    voc_image(tmp_path, "torn", (40, 20), [("dog", (1, 1, 5, 5), 0)])
    (tmp_path / "JPEGImages" / "torn.jpg").write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")
    (tmp_path / "Annotations" / "broken.xml").write_text("<annotation><object>", encoding="utf-8")
    with pytest.raises(RecipeError) as caught:
        load(root=str(tmp_path))
    message = str(caught.value)
    assert "broken.xml: not a VOC XML file" in message and "3 faults in all" in message
    data = load(root=str(tmp_path), on_error="skip")
    assert data.details["skipped"] == {
        "malformed annotation file": 1,
        "missing image": 1,
        "unreadable image": 1,
    }
    assert sum(data.describe()["sizes"].values()) == 6
    for name, expected in (
        ("gone", "gone.jpg: the image not found"),
        ("torn", "torn.jpg: the image cannot be read"),
    ):
        only = tmp_path / name
        voc_image(only, name, (40, 20), [("dog", (1, 1, 5, 5), 0)])
        (only / "JPEGImages" / f"{name}.jpg").unlink() if name == "gone" else (
            only / "JPEGImages" / f"{name}.jpg"
        ).write_bytes(b"junk")
        with pytest.raises(RecipeError, match=expected):
            load(root=str(only))


def test_a_listed_image_without_its_xml_is_a_fault(tmp_path: Path) -> None:
    small_voc(tmp_path, 6)
    lists = tmp_path / "ImageSets" / "Main"
    lists.mkdir(parents=True)
    (lists / "trainval.txt").write_text("000000\n000001\n000002\n000003\n000004\n000005\n000099\n")
    with pytest.raises(RecipeError, match=r"000099\.xml: annotation file not found"):
        load(root=str(tmp_path))
    data = load(root=str(tmp_path), on_error="skip")
    assert data.details["skipped"] == {"missing annotation file": 1}


def test_folders_that_are_not_voc_are_one_line_errors(tmp_path: Path) -> None:
    with pytest.raises(RecipeError, match=r"data.options.root: folder not found"):
        load(root=str(tmp_path / "nowhere"))
    write_image(tmp_path / "pictures" / "a.jpg", (8, 8))
    with pytest.raises(RecipeError, match="neither the VOC layout .* it holds folders: pictures"):
        load(root=str(tmp_path))
    small_voc(tmp_path / "v", 6)
    with pytest.raises(RecipeError, match="data.options.val_root: folder not found"):
        load(root=str(tmp_path / "v"), val_root=str(tmp_path / "missing"))
    custom = tmp_path / "custom"
    small_voc(custom, 6, layout=("pics", "xml"))
    data = load(root=str(custom), image_dir="pics", annotation_dir="xml")
    assert data.details["layout"] == "custom" and sum(data.describe()["sizes"].values()) == 6


def test_exif_orientation_is_counted_and_applied_on_request(tmp_path: Path) -> None:
    from PIL import Image, ImageOps

    small_voc(tmp_path, 4)
    # stored 40 wide, 20 high, tagged "rotate 90 degrees clockwise to view" (orientation 6);
    # the box was drawn on the rotated, 20 x 40 view: its left half
    xml = voc_image(tmp_path, "phone", (40, 20), [("dog", (1, 1, 10, 40), 0)], stated=(20, 40))
    stored = tmp_path / "JPEGImages" / "phone.jpg"
    exif = Image.Exif()
    exif[0x0112] = 6
    with Image.open(stored) as image:
        image.load()
        image.save(stored, exif=exif)
    ignored = load(root=str(tmp_path), on_error="skip")
    assert ignored.details["exif_oriented_images"] == 1
    assert ignored.details["skipped"] == {"box outside the image": 1}  # 40 > 20 + 1 as stored
    applied = load(root=str(tmp_path), exif_orientation="apply")
    split, i = find(applied, "phone.jpg")
    assert (
        split.sizes[i].tolist() == [40, 20] and "annotation_size_disagrees" not in applied.details
    )
    np.testing.assert_allclose(split.targets[i][0, 1:5], [0, 0, 0.5, 1])
    with Image.open(stored) as original:
        expected = ImageOps.exif_transpose(original).convert("RGB")
    served = split[i][0]
    assert served.size == (20, 40)
    assert np.array_equal(np.asarray(served), np.asarray(expected)), xml
