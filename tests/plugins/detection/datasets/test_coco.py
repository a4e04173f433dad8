"""``coco``: [x, y, w, h] boxes, non-contiguous category ids, crowd, subsets, and the faults."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from compressor_detection.datasets import DATASET_RECORDS, CocoOptions

from compressor.errors import RecipeError
from tests.plugins.detection.datasets.folders import coco_document, small_coco, write_image

COCO = next(r for r in DATASET_RECORDS if r.name == "coco")


def load(seed: int = 0, **options: Any) -> Any:
    return COCO.build(CocoOptions(**options), seed=seed)


def every_sample(data: Any) -> dict[str, tuple[Any, np.ndarray]]:
    """Image file name -> (size (h, w), target), over the three splits."""
    found = {}
    for name in ("train", "val", "test"):
        split = data.split(name)
        for i in range(len(split)):
            found[Path(split.sample_name(i)).name] = (tuple(split.sizes[i]), split.targets[i])
    return found


def test_boxes_ids_crowd_and_empty_images(tmp_path: Path) -> None:
    annotations, images = small_coco(tmp_path, 9)
    data = load(annotations=str(annotations), images=str(images))
    assert data.task == "detection"
    # categories 1, 3, 7 in id order, whatever order the file lists them in
    assert data.class_names == ["person", "car", "zebra"] and data.num_classes == 3
    samples = every_sample(data)
    assert len(samples) == 9 and sum(data.describe()["sizes"].values()) == 9
    (height, width), target = samples["img000.jpg"]
    assert (height, width) == (50, 24)
    np.testing.assert_allclose(target[0], [2, 0, 0, 0.5, 0.5, 0], rtol=1e-6)
    np.testing.assert_allclose(target[1], [0, 2.5 / 24, 3 / 50, 12.5 / 24, 15 / 50, 0], rtol=1e-6)
    assert samples["img002.jpg"][1].shape == (0, 6)  # no annotations: kept, empty
    assert samples["img004.jpg"][1][1, 5] == 1  # the crowd box is flagged difficult
    split = data.train
    image, target = split[0]
    assert image.mode == "RGB" and (image.size[1], image.size[0]) == tuple(split.sizes[0])
    assert target.dtype == np.float32


def test_crowd_and_empty_images_can_be_left_out_and_classes_subset(tmp_path: Path) -> None:
    annotations, images = small_coco(tmp_path, 9)
    base = {"annotations": str(annotations), "images": str(images)}
    no_crowd = load(**base, include_crowd=False, keep_empty=False)
    assert no_crowd.details["left_out"] == {"crowd boxes": 1, "images without boxes": 3}
    assert sum(no_crowd.describe()["sizes"].values()) == 6
    zebras = load(**base, classes=["zebra"], test_fraction=0.3)
    assert zebras.class_names == ["zebra"] and zebras.num_classes == 1
    rows = np.concatenate([zebras.split(s).targets.rows for s in ("train", "val", "test")])
    assert len(rows) == 6 and (rows[:, 0] == 0).all()
    assert zebras.details["left_out"] == {"boxes of classes not listed": 6}
    with pytest.raises(
        RecipeError,
        match=r"data.options.classes: 'zebar' is not a category .* did you mean 'zebra'",
    ):
        load(**base, classes=["zebar"])


def test_separate_validation_and_test_files(tmp_path: Path) -> None:
    train, images = small_coco(tmp_path / "train", 6)
    val, val_images = small_coco(tmp_path / "val", 3)
    data = load(
        annotations=str(train),
        images=str(images),
        val_annotations=str(val),
        val_images=str(val_images),
        test_fraction=0.2,
    )
    assert data.describe()["sizes"] == {"train": 5, "val": 3, "test": 1}
    assert all(Path(data.val.sample_name(i)).parent == val_images for i in range(3))


def test_json_sizes_that_disagree_with_the_image_are_reported(tmp_path: Path) -> None:
    annotations, images = small_coco(tmp_path, 6)
    document = json.loads(annotations.read_text())
    document["images"][0]["width"] = 640
    annotations.write_text(json.dumps(document))
    data = load(annotations=str(annotations), images=str(images))
    assert data.details["annotation_size_disagrees"] == 1
    assert (
        "image id 10 (img000.jpg) says 640x50, the image is 24x50"
        in data.details["annotation_size_example"]
    )


def _with(annotations: Path, change: Any) -> None:
    document = json.loads(annotations.read_text())
    change(document)
    annotations.write_text(json.dumps(document))


BOX_FAULTS = {
    "box outside the image": (lambda a: a.update(bbox=[10, 10, 30, 5]), "bbox [10, 10, 30, 5]"),
    "empty or inverted box": (lambda a: a.update(bbox=[1, 1, 0, 5]), "bbox [1, 1, 0, 5]"),
    "malformed box": (lambda a: a.update(bbox=[1, 1, 5]), "annotation id 100"),
    "unknown class": (lambda a: a.update(category_id=5), "'category_id 5'"),
    "annotation of an unknown image": (lambda a: a.update(image_id=999), "image_id 999"),
}


@pytest.mark.parametrize("fault", sorted(BOX_FAULTS))
def test_a_bad_annotation_is_one_line_naming_the_file_or_skipped(
    tmp_path: Path, fault: str
) -> None:
    annotations, images = small_coco(tmp_path, 6)
    change, shown = BOX_FAULTS[fault]
    _with(annotations, lambda d: change(d["annotations"][0]))
    options = {"annotations": str(annotations), "images": str(images)}
    with pytest.raises(RecipeError) as caught:
        load(**options)
    message = str(caught.value)
    assert message.startswith(f"data.options.annotations: {annotations}")
    assert "\n" not in message and fault in message and shown in message
    data = load(**options, on_error="skip")
    assert data.details["skipped"] == {fault: 1}
    total = sum(len(data.split(s).targets.rows) for s in ("train", "val", "test"))
    assert total == 8 - 1  # 4 annotated images x 2 boxes, one left out


def test_missing_and_unreadable_images_leave_the_image_out_when_skipped(tmp_path: Path) -> None:
    annotations, images = small_coco(tmp_path, 8)
    (images / "img000.jpg").unlink()
    (images / "img001.png").write_bytes(b"\x89PNG\r\n\x1a\n broken")
    options = {"annotations": str(annotations), "images": str(images)}
    with pytest.raises(
        RecipeError,
        match=r"data.options.annotations: .*img000\.jpg: the image not found; .* \(2 faults in all: 1 missing image, 1 unreadable image\)",
    ):
        load(**options)
    data = load(**options, on_error="skip")
    assert data.details["skipped"] == {"missing image": 1, "unreadable image": 1}
    assert sum(data.describe()["sizes"].values()) == 6


def test_files_that_are_not_coco_json_are_one_line_errors(tmp_path: Path) -> None:
    images = tmp_path / "images"
    write_image(images / "a.jpg", (8, 8))
    path = tmp_path / "bad.json"
    cases = {
        '{"images": [], "categories": [': "not valid JSON (line 1 column 31: Expecting value)",
        "[1, 2]": "not a COCO instances file",
        '{"images": []}': "no 'categories' list",
        '{"images": [], "categories": [{"id": 1}]}': "categories[0] needs an integer id and a name",
        '{"images": [], "categories": [{"id": 1, "name": "a"}, {"id": 2, "name": "a"}]}': "categories[1] (2, 'a') repeats an id or a name",
    }
    for text, expected in cases.items():
        path.write_text(text)
        pattern = re.escape(f"data.options.annotations: {path}: {expected}")
        with pytest.raises(RecipeError, match=f"^{pattern}"):
            load(annotations=str(path), images=str(images))
    with pytest.raises(RecipeError, match="data.options.annotations: file not found"):
        load(annotations=str(tmp_path / "none.json"), images=str(images))
    document = coco_document([{"file_name": "a.jpg"}], [], [(1, "a")])
    path.write_text(json.dumps(document))
    with pytest.raises(RecipeError, match=r"images\[0\] has no id or file_name"):
        load(annotations=str(path), images=str(images))
    with pytest.raises(ValueError, match="val_images needs val_annotations"):
        CocoOptions(annotations="a.json", images="i", val_images="v")
