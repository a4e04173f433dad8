"""The split datasets: targets and sizes in numpy arrays, items the core's streamed path reads,
and the hook module's records."""

from __future__ import annotations

import pickle
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import torch
from compressor_detection.datasets import DATASET_RECORDS, VocOptions
from compressor_detection.datasets.samples import BoxTargets, DetectionFiles, pack_rows

from compressor.data import Preprocessing, StreamedSplit
from compressor.records import resolve_factory
from tests.plugins.detection.datasets.folders import small_voc

ROOT = Path(__file__).resolve().parents[4]


def test_targets_pack_take_and_pad_without_a_loop() -> None:
    rows = [
        np.array([[1, 0.1, 0.1, 0.5, 0.5, 0]], np.float32),
        np.zeros((0, 6), np.float32),
        np.array([[0, 0, 0, 1, 1, 1], [2, 0.2, 0.3, 0.4, 0.5, 0]], np.float32),
    ]
    targets = BoxTargets(*pack_rows(rows))
    assert len(targets) == 3 and targets.counts().tolist() == [1, 0, 2]
    np.testing.assert_array_equal(targets[2], rows[2])
    np.testing.assert_array_equal(targets[-1], rows[2])
    assert targets[1].shape == (0, 6)
    padded = targets.padded()
    assert padded.shape == (3, 2, 6) and padded.dtype == np.float32
    np.testing.assert_array_equal(padded[0, 0], rows[0][0])
    assert padded[0, 1].tolist() == [-1, 0, 0, 0, 0, 0] and (padded[1, :, 0] == -1).all()
    np.testing.assert_array_equal(padded[2], rows[2])
    taken = targets.take(np.array([2, 0]))
    np.testing.assert_array_equal(taken[0], rows[2])
    np.testing.assert_array_equal(taken[1], rows[0])
    assert BoxTargets(*pack_rows([])).padded().shape == (0, 1, 6)
    targets[0][0, 0] = 9  # an item is a copy: the dataset's arrays do not change
    assert targets[0][0, 0] == 1


def _python_containers(value: Any, depth: int = 0) -> list[str]:
    """Python lists, tuples or dicts with more than a handful of items held by ``value``."""
    found = []
    for name, held in vars(value).items():
        if isinstance(held, (list, tuple, dict)) and len(held) > 4:
            found.append(name)
        elif hasattr(held, "__dict__") and depth < 2 and not isinstance(held, type):
            found += [f"{name}.{n}" for n in _python_containers(held, depth + 1)]
    return found


def test_items_stream_through_the_core_preprocessing_in_workers(tmp_path: Path) -> None:
    small_voc(tmp_path, 12)
    data = DATASET_RECORDS[0].build(VocOptions(root=str(tmp_path)), seed=0)
    train = data.train
    assert isinstance(train, DetectionFiles)
    assert _python_containers(train) == []  # no per-sample Python objects for workers to copy
    copy = pickle.loads(pickle.dumps(train))
    np.testing.assert_array_equal(copy.targets.rows, train.targets.rows)
    assert copy.sample_name(3) == train.sample_name(3) and (copy.sizes == train.sizes).all()
    streamed = StreamedSplit(
        train,
        preprocessing=Preprocessing(resize=(24, 32)),
        name="train",
        labels=torch.zeros(len(train), dtype=torch.long),
        num_workers=1,
    )
    try:
        shapes = [tuple(x.shape) for _, x, _ in streamed.batches(4)]
    finally:
        streamed.close()
    assert shapes[0] == (4, 3, 24, 32) and sum(s[0] for s in shapes) == len(train)


def test_the_records_import_nothing_heavy_and_their_factories_resolve() -> None:
    code = (
        "import sys, compressor_detection.datasets as d; "
        "print(sorted(m for m in ('torch', 'numpy', 'PIL') if m in sys.modules)); "
        "print([r.name for r in d.DATASET_RECORDS])"
    )
    env_path = f"{ROOT}:{ROOT / 'plugins'}"
    out = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=True,
        env={"PYTHONPATH": env_path, "PATH": "/usr/bin:/bin"},
    ).stdout.split("\n")
    assert out[0] == "[]", out
    assert out[1] == "['voc', 'coco', 'mnist_detection']"
    for record in DATASET_RECORDS:
        assert record.task == "detection" and record.modality == "image"
        assert callable(resolve_factory(record.factory))
        fields = record.options.model_fields
        assert all(f.description for f in fields.values()), record.name
