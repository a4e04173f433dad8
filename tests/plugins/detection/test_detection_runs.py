"""Detection from files to a deployed model: the shipped detection recipe on a VOC folder and
on a COCO file of the same boxes, with nothing but --set for the paths; predict maps boxes back
to each original image; a bad annotation is one line with exit 2."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest
from PIL import Image

from compressor.cli import main
from tests.plugins.detection.datasets.folders import coco_document, voc_xml

#: The recipe cut to its bones: one epoch per stage, cheap timing.
QUICK = [
    "--set", "stages.teacher.epochs=1",
    "--set", "stages.distill.epochs=1",
    "--set", "stages.prune.finetune.epochs=1",
    "--set", "stages.quantize.auto_seconds=0.02",
    "--set", "stages.benchmark.min_seconds=0.01",
    "--set", "stages.benchmark.repeat=3",
    "--set", "stages.benchmark.rounds=2",
    "--set", "stages.benchmark.batch_sizes=[1]",
    "--set", "data.batch_size=8",
]  # fmt: skip


@pytest.fixture(scope="module")
def photos(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """30 'photos' of varied sizes (digit canvases stretched), as a VOC folder and as a COCO
    file of the same boxes."""
    from compressor_detection.datasets import DATASET_RECORDS, MnistDetectionOptions

    record = next(r for r in DATASET_RECORDS if r.name == "mnist_detection")
    canvases = record.build(MnistDetectionOptions(images=30, size=64, digit_size=[16, 30]), seed=1)
    root = tmp_path_factory.mktemp("photos")
    images, annotations = [], []
    rng = np.random.default_rng(0)
    for split in ("train", "val", "test"):
        data = canvases.split(split)
        for i in range(len(data)):
            image, target = data[i]
            width, height = int(rng.integers(60, 140)), int(rng.integers(60, 140))
            stem = f"{split}{i:02d}"
            path = root / "JPEGImages" / f"{stem}.jpg"
            path.parent.mkdir(parents=True, exist_ok=True)
            image.resize((width, height)).save(path, quality=95)
            boxes = target[:, 1:5] * [width, height, width, height]
            names = [str(int(c)) for c in target[:, 0]]
            objects = [(n, (b[0] + 1, b[1] + 1, b[2], b[3]), 0) for n, b in zip(names, boxes)]
            (root / "Annotations").mkdir(exist_ok=True)
            (root / "Annotations" / f"{stem}.xml").write_text(
                voc_xml(path.name, objects, (width, height)), encoding="utf-8"
            )
            image_id = len(images) + 1
            images.append(
                {"id": image_id, "file_name": path.name, "width": width, "height": height}
            )
            for n, b in zip(names, boxes):
                annotations.append(
                    {
                        "id": len(annotations) + 1,
                        "image_id": image_id,
                        "category_id": 10 + int(n),  # not contiguous: mapped by the dataset
                        "bbox": [float(b[0]), float(b[1]), float(b[2] - b[0]), float(b[3] - b[1])],
                        "area": float((b[2] - b[0]) * (b[3] - b[1])),
                        "iscrowd": 0,
                    }
                )
    categories = [(10 + d, str(d)) for d in range(10)]
    (root / "instances.json").write_text(
        json.dumps(coco_document(images, annotations, categories)), encoding="utf-8"
    )
    return root


def _run(tmp_path: Path, capsys, *data: str, quick: list[str] = QUICK) -> tuple[int, str]:
    code = main(["run", "detection", "--out", str(tmp_path / "run"), "--no-cache", *data, *quick])
    return code, capsys.readouterr().err


def test_a_voc_folder_runs_the_detection_recipe_and_predict_maps_boxes_back(
    photos, tmp_path, capsys
) -> None:
    code, err = _run(
        tmp_path,
        capsys,
        "--set", "data.dataset=voc",
        "--set", f"data.options={{root: {photos}}}",
        "--set", "data.preprocess={resize: [64, 64]}",
        # One epoch trains little: keep every candidate, so that there are boxes to map back.
        "--set", "task.options.score_threshold=0.0",
    )  # fmt: skip
    assert code == 0, err
    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text(encoding="utf-8"))
    assert metrics["task"]["name"] == "detection"
    assert "map50" in metrics["stages"]["benchmark"]["models"]["student.onnx"]
    student = tmp_path / "run" / "student.onnx"
    photo = min((photos / "JPEGImages").glob("*.jpg"))
    assert main(["predict", str(student), str(photo), "--json", "--threshold", "0"]) == 0
    (answer,) = json.loads(capsys.readouterr().out)
    session = ort.InferenceSession(str(student))
    with Image.open(photo) as image:
        width, height = image.size
        pixels = np.asarray(image.convert("RGB").resize((64, 64), Image.BILINEAR), np.float32)
    meta = session.get_modelmeta().custom_metadata_map
    prep = json.loads(meta["preprocessing"])
    x = (pixels / 255 - prep["mean"]) / prep["std"]
    boxes, scores, _ = session.run(None, {"input": x.transpose(2, 0, 1)[None].astype(np.float32)})
    kept = scores[0] > 0
    assert len(answer["detections"]) == int(kept.sum())
    drawn = tmp_path / "drawn"
    assert (
        main(["predict", str(student), str(photo), "--threshold", "0", "--draw", str(drawn)]) == 0
    )
    with Image.open(drawn / f"{photo.stem}.png") as picture:
        assert picture.size == (width, height)  # the photo itself, boxes drawn on it
    assert "class" in capsys.readouterr().out  # the table's header
    assert kept.any()
    # The best box, scaled from the 64x64 input to the photo's own pixels.
    want = boxes[0][np.argmax(scores[0])] * np.array([width / 64, height / 64] * 2)
    np.testing.assert_allclose(answer["detections"][0]["box"], want, atol=0.5)


def test_a_coco_file_of_the_same_boxes_runs_it_too(photos, tmp_path, capsys) -> None:
    code, err = _run(
        tmp_path,
        capsys,
        "--set", "data.dataset=coco",
        "--set", f"data.options={{annotations: {photos / 'instances.json'}, images: {photos / 'JPEGImages'}}}",
        "--set", "data.preprocess={resize: [64, 64]}",
        "--set", "stages=[{name: teacher, type: train, model: {name: dense_detector}, epochs: 1}]",
        quick=["--set", "data.batch_size=8"],
    )  # fmt: skip
    assert code == 0, err
    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text(encoding="utf-8"))
    assert metrics["data"]["num_classes"] == 10 and "test_map" in metrics["stages"]["teacher"]


def test_a_bad_annotation_is_one_line_naming_its_file(tmp_path, capsys) -> None:
    broken = tmp_path / "voc"
    (broken / "JPEGImages").mkdir(parents=True)
    (broken / "Annotations").mkdir()
    Image.new("RGB", (40, 30)).save(broken / "JPEGImages" / "a.jpg")
    (broken / "Annotations" / "a.xml").write_text(
        voc_xml("a.jpg", [("cat", (5, 5, 80, 20), 0)], (40, 30)), encoding="utf-8"
    )
    code, err = _run(tmp_path, capsys, "--set", "data.dataset=voc",
                     "--set", f"data.options={{root: {broken}}}")  # fmt: skip
    assert code == 2 and "a.xml" in err and "outside the image" in err
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1
