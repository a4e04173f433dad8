"""The ``export`` stage hands exporters the data's normalization and the recipe's hash."""

from __future__ import annotations

import json
import types

import onnxruntime as ort
import pytest
import torch
from compressor_exporters import OnnxOptions
from compressor_stages.export import ExportStage
from compressor_stages.options import ExportOptions
from torch import nn

from compressor.artifacts import ModelArtifact
from compressor.context import RunContext, StageContext, StageInfo
from compressor.data import DataBundle, Split
from compressor.export_context import run_recipe_hash
from compressor.run.progress import Progress
from compressor.schemas import ExporterRef

pytestmark = pytest.mark.filterwarnings(
    "ignore:You are using the legacy TorchScript:DeprecationWarning"
)


def test_exported_file_carries_data_and_recipe(tmp_path, registry) -> None:
    (tmp_path / "recipe.yaml").write_text("name: tiny\nseed: 0\n")
    g = torch.Generator().manual_seed(0)
    split = Split(
        x=torch.randn(20, 1, 4, 4, generator=g), y=torch.randint(0, 3, (20,), generator=g)
    )
    bundle = DataBundle(
        name="blobs",
        train=split,
        val=split,
        test=split,
        num_classes=3,
        input_shape=(1, 4, 4),
        mean=(0.25,),
        std=(0.5,),
        class_names=["a", "b", "c"],
    )
    ref = ExporterRef(name="onnx")
    ref._parsed = OnnxOptions(dynamo="off", embed_preprocessing=True, raw_input="uint8")
    options = ExportOptions(exporter=ref, parity_samples=8)
    model = nn.Sequential(nn.Flatten(), nn.Linear(16, 3)).eval()
    run = RunContext(
        recipe=types.SimpleNamespace(
            name="tiny", data=types.SimpleNamespace(eval_batch_size=8, batch_size=8)
        ),
        registry=registry,
        run_dir=tmp_path,
        device="cpu",
        seed=0,
        progress=Progress(enabled=False),
        artifacts={"student": ModelArtifact(name="student", model=model)},
        _data=bundle,
    )
    info = StageInfo(
        name="export",
        type="export",
        index=1,
        options=options,
        inputs={"models": ["student"]},
        outputs={"files": ["student.onnx"]},
    )
    ExportStage(options).run(StageContext(run, info))

    meta = ort.InferenceSession(str(tmp_path / "student.onnx")).get_modelmeta().custom_metadata_map
    assert meta["recipe_hash"] == run_recipe_hash(tmp_path) == run.metrics["export"]["recipe_hash"]
    assert (
        meta["recipe"] == "tiny"
        and meta["dataset"] == "blobs"
        and meta["source_model"] == "student"
    )
    assert json.loads(meta["class_names"]) == ["a", "b", "c"] and json.loads(meta["mean"]) == [0.25]
    assert meta["input_dtype"] == "uint8" and meta["normalization"] == "embedded"
    assert run.artifacts["student.onnx"].meta["params"] == 51
