"""Describing, restoring and fingerprinting what a stage produced."""

from __future__ import annotations

import torch
from torch import nn

from compressor.artifacts import FileArtifact, ModelArtifact
from compressor.model.checkpoint import save_model
from compressor.run.results import (
    artifact_digest,
    describe_artifact,
    restore_artifact,
    snapshot,
    written_since,
)

SPEC = {"name": "seed_mlp", "options": {"hidden": [16]}}


def _model(registry, seed: int = 0) -> nn.Module:
    torch.manual_seed(seed)
    return registry.get("model", "seed_mlp").build(
        registry.get("model", "seed_mlp").options(hidden=[16]),
        input_shape=(1, 8, 8),
        num_classes=10,
    )


def test_model_digest_follows_the_weights_not_the_object(registry) -> None:
    a, b, c = _model(registry, 0), _model(registry, 0), _model(registry, 1)
    digest = artifact_digest(ModelArtifact(name="m", model=a, spec=SPEC))
    assert digest == artifact_digest(ModelArtifact(name="m", model=b, spec=SPEC))
    assert digest != artifact_digest(ModelArtifact(name="m", model=c, spec=SPEC))
    with torch.no_grad():
        next(b.parameters()).view(-1)[0] += 1e-3
    assert digest != artifact_digest(ModelArtifact(name="m", model=b, spec=SPEC))
    assert artifact_digest(ModelArtifact(name="m")) is None


def test_file_digest_and_round_trip(tmp_path, registry) -> None:
    model = _model(registry)
    path = save_model(model, SPEC, tmp_path / "m.pt", input_shape=[1, 8, 8], num_classes=10)
    onnx = tmp_path / "m.onnx"
    onnx.write_bytes(b"onnx bytes")
    file_artifact = FileArtifact(
        name="m.onnx", producer="export", path=onnx, format="onnx", source="m"
    )
    assert artifact_digest(file_artifact) == artifact_digest(FileArtifact(name="x", path=onnx))

    model_description = describe_artifact(
        ModelArtifact(
            name="m", producer="train", model=model, spec=SPEC, path=path, meta={"params": 3}
        ),
        tmp_path,
    )
    assert model_description["path"] == "m.pt"
    restored = restore_artifact(model_description, tmp_path, registry, "cpu")
    assert (
        isinstance(restored, ModelArtifact)
        and restored.producer == "train"
        and restored.meta == {"params": 3}
    )
    for got, want in zip(
        restored.model.state_dict().values(), model.state_dict().values(), strict=True
    ):
        assert torch.equal(got, want)
    file_description = describe_artifact(file_artifact, tmp_path)
    again = restore_artifact(file_description, tmp_path, registry, "cpu")
    assert isinstance(again, FileArtifact) and again.path == onnx and again.source == "m"


def test_written_since_sees_new_and_changed_files_only(tmp_path) -> None:
    (tmp_path / "old.txt").write_text("a")
    (tmp_path / "same.txt").write_text("b")
    (tmp_path / "checkpoints").mkdir()
    before = snapshot(tmp_path, skip=("checkpoints",))
    (tmp_path / "old.txt").write_text("changed, longer")
    (tmp_path / "new.txt").write_text("c")
    (tmp_path / "checkpoints" / "x-0.pt").write_text("d")
    assert written_since(tmp_path, before, skip=("checkpoints",)) == ["new.txt", "old.txt"]
