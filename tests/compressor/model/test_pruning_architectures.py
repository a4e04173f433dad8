"""Pruning real architectures: residual adds, depthwise + squeeze-excite, concatenation.

Each model is pruned by half, must still run, must really shrink, and must export to ONNX and
agree with onnxruntime. Random weights and 32x32 inputs keep this fast.
"""

from __future__ import annotations

import numpy as np
import onnxruntime as ort
import pytest
import torch
import torch_pruning as tp
import torchvision
from torch import nn

from compressor.model.pruning import PruneSettings, prune_model

ARCHITECTURES = {
    "resnet18": {},  # residual adds
    "mobilenet_v3_small": {},  # depthwise convs, squeeze-excite
    "googlenet": {"aux_logits": False, "init_weights": True},  # channel concatenation
}


def _export_and_compare(registry, model: nn.Module, x: torch.Tensor, path) -> None:
    record = registry.get("exporter", "onnx")
    exporter = record.build(record.options.model_validate({"dynamo": "off"}))
    facts = exporter.export(model, x, path)
    assert facts["max_abs_error"] < 1e-3
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    batch = x[:3].numpy()
    onnx_out = session.run(None, {session.get_inputs()[0].name: batch})[0]
    with torch.no_grad():
        torch_out = model(torch.from_numpy(batch)).numpy()
    assert np.allclose(onnx_out, torch_out, atol=1e-3)


@pytest.mark.parametrize("arch", list(ARCHITECTURES))
def test_prune_run_and_export(registry, tmp_path, arch: str) -> None:
    torch.manual_seed(0)
    model = torchvision.models.get_model(
        arch, weights=None, num_classes=10, **ARCHITECTURES[arch]
    ).eval()
    x = torch.randn(4, 3, 32, 32)
    classifier = [m for m in model.modules() if isinstance(m, nn.Linear)][-1]
    report = prune_model(
        model,
        importance=tp.importance.GroupMagnitudeImportance(),
        example_inputs=x[:2],
        ignored_layers=[classifier],
        settings=PruneSettings(ratio=0.5, round_to=8),
    )
    assert report.params_fraction < 0.35 and report.macs_fraction < 0.35
    assert classifier.out_features == 10
    assert model(x).shape == (4, 10)
    _export_and_compare(registry, model, x, tmp_path / f"{arch}.onnx")


def test_seed_models_prune_and_export(registry, tmp_path) -> None:
    for name, options in (
        ("seed_cnn", {"channels": [16, 32], "hidden": 64}),
        ("seed_mlp", {"hidden": [64, 32]}),
    ):
        record = registry.get("model", name)
        model = record.build(
            record.options.model_validate(options), input_shape=(1, 28, 28), num_classes=10
        ).eval()
        x = torch.randn(4, 1, 28, 28)
        report = prune_model(
            model,
            importance=tp.importance.GroupMagnitudeImportance(),
            example_inputs=x[:2],
            ignored_layers=[model.classifier[-1] if name == "seed_cnn" else model.classifier],
            settings=PruneSettings(ratio=0.5),
        )
        assert report.params_fraction < 0.6
        _export_and_compare(registry, model, x, tmp_path / f"{name}.onnx")
