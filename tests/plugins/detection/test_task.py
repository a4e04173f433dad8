"""The detection task: targets, checks, layers kept whole, metadata, predict's answers."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import numpy as np
import pytest
import torch
from compressor_detection.options import DetectionOptions
from compressor_detection.task import DetectionTask
from torch import nn

from compressor.data import DataBundle, Split
from compressor.plugin.registry import Registry
from tests.plugins.detection.detectors import CLASSES, tiny_detector


def bundle(labels: torch.Tensor, shape: tuple[int, ...] = (3, 40, 80)) -> DataBundle:
    split = Split(torch.zeros(len(labels), *shape), labels)
    return DataBundle(
        "boxes", split, split, split, num_classes=2, input_shape=shape,
        class_names=["cat", "dog"], task="detection",
    )  # fmt: skip


def test_targets_are_padded_with_class_minus_one() -> None:
    batch = DetectionTask().collate(
        [np.array([[1, 0.1, 0.2, 0.3, 0.4, 0], [0, 0.5, 0.5, 0.9, 0.9, 1]]), np.zeros((0, 6))]
    )
    assert batch.dtype == torch.float32 and batch.shape == (2, 2, 6)
    assert batch[1, :, 0].tolist() == [-1, -1] and (batch[1, :, 1:] == 0).all()
    assert batch[0, 1].tolist() == pytest.approx([0, 0.5, 0.5, 0.9, 0.9, 1])
    assert DetectionTask().collate([np.zeros((0, 6))]).shape == (1, 1, 6)
    with pytest.raises(ValueError, match=r"target 0 has shape \(2, 5\)"):
        DetectionTask().collate([np.zeros((2, 5))])


def test_data_must_hold_boxes() -> None:
    task = DetectionTask()
    assert task.check_data(bundle(task.collate([np.zeros((0, 6))]))) is None
    problem = task.check_data(bundle(torch.zeros(1, dtype=torch.long)))
    assert problem is not None and "(M, 6) rows" in problem


def test_the_metric_follows_the_options() -> None:
    assert DetectionTask().metric.key == "map"
    assert DetectionTask(DetectionOptions(metric="map50")).metric.label == "mAP@.5"


def test_layers_kept_whole_are_the_detectors_outputs() -> None:
    model = tiny_detector()
    assert DetectionTask().kept_whole(model, CLASSES) == model.output_layers()

    classes, boxes = nn.Conv2d(4, 9, 3), nn.Conv2d(4, 36, 3)
    retina_like = nn.ModuleDict(
        {
            "head": nn.ModuleDict(
                {
                    "classification_head": nn.ModuleDict({"cls_logits": classes}),
                    "regression_head": nn.ModuleDict({"bbox_reg": boxes}),
                }
            )
        }
    )
    assert DetectionTask().kept_whole(retina_like, 1) == [classes, boxes]


def test_only_detectors_deploy() -> None:
    with pytest.raises(TypeError, match="boxes_and_scores"):
        DetectionTask().deployable(nn.Linear(2, 2))
    deployed = DetectionTask().deployable(tiny_detector())
    assert DetectionTask().deployable(deployed) is deployed


def test_metadata_and_scorer_come_from_the_data() -> None:
    task = DetectionTask(DetectionOptions(max_detections=20, candidates=40))
    data = bundle(task.collate([np.zeros((0, 6))]))
    assert task.metadata(data)["model_input"] == [40, 80]
    assert task.metadata(data)["max_detections"] == 20
    scorer = task.scorer(data)
    assert scorer.class_names == ["cat", "dog"] and scorer.scale.tolist() == [80, 40, 80, 40]


OUTPUTS: list[np.ndarray] = [
    np.array([[[8.0, 4.0, 40.0, 20.0], [0.0, 0.0, 4.0, 4.0], [0, 0, 0, 0]]], np.float32),
    np.array([[0.9, 0.3, 0.0]], np.float32),
    np.array([[1, 0, -1]], np.int64),
]


def test_predictions_map_boxes_back_to_the_original_image() -> None:
    recorded = {"class_names": ["cat", "dog"], "model_input": [40, 80], "input_size": [[80, 160]]}
    (answer,) = DetectionTask().predictions(OUTPUTS, recorded)
    assert [d["class"] for d in answer["detections"]] == ["dog", "cat"]
    assert answer["detections"][0] == {
        "box": [16.0, 8.0, 80.0, 40.0], "class": "dog", "index": 1,
        "score": pytest.approx(0.9),
    }  # fmt: skip
    (strict,) = DetectionTask().predictions(OUTPUTS, {**recorded, "threshold": 0.5})
    assert len(strict["detections"]) == 1
    rows = DetectionTask().table(strict)
    assert rows == [["dog", "0.900", "16.0, 8.0, 80.0, 40.0"]]
    assert DetectionTask().table({"detections": []}) == [["(none)", "", ""]]


def test_predictions_need_numpy_alone() -> None:
    # compressor predict must not import torch.
    script = textwrap.dedent(
        """
        import sys
        import numpy as np
        from compressor_detection.task import DetectionTask
        outputs = [np.zeros((1, 2, 4), np.float32), np.array([[0.5, 0]], np.float32),
                   np.array([[0, -1]])]
        (answer,) = DetectionTask().predictions(outputs, {"class_names": ["a"]})
        assert len(answer["detections"]) == 1, answer
        assert "torch" not in sys.modules, "torch was imported"
        """
    )
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stderr[-2000:]


def test_everything_registers() -> None:
    registry = Registry.load()
    task = registry.get("task", "detection")
    assert task.options is DetectionOptions and isinstance(
        task.build(DetectionOptions()), DetectionTask
    )
    assert registry.get("model", "dense_detector").options.__name__ == "DenseDetectorOptions"
    for name, teacher in (("detection", False), ("dense_kd", True), ("pkd", True)):
        assert registry.get("loss", name).needs_teacher is teacher
    assert (
        registry.get("loss", "pkd").inputs == "features" and not registry.get("loss", "pkd").tasks
    )
