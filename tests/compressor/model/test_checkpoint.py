"""Checkpoints: pruned models reload in a fresh process, safely; bad files are clear errors."""

from __future__ import annotations

import pickle
import random
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import torch_pruning as tp

from compressor.errors import UsageError
from compressor.model.checkpoint import load_model, save_model
from compressor.model.pruning import PruneSettings, prune_model


def _build(registry, name: str, **options):
    record = registry.get("model", name)
    return record.build(
        record.options.model_validate(options), input_shape=(1, 8, 8), num_classes=10
    )


def test_pruned_model_roundtrips_in_a_fresh_process(registry, tmp_path) -> None:
    model = _build(registry, "seed_cnn", channels=[8, 16], hidden=32).eval()
    x = torch.randn(4, 1, 8, 8)
    classifier = [m for m in model.modules() if isinstance(m, torch.nn.Linear)][-1]
    report = prune_model(
        model,
        importance=tp.importance.GroupMagnitudeImportance(),
        example_inputs=x,
        ignored_layers=[classifier],
        settings=PruneSettings(ratio=0.5),
    )
    assert report.params_after < report.params_before / 2
    path = save_model(
        model,
        {"name": "seed_cnn", "options": {"channels": [8, 16], "hidden": 32}},
        tmp_path / "m.pt",
        input_shape=[1, 8, 8],
        num_classes=10,
    )
    expected = model(x)
    torch.save(x, tmp_path / "x.pt")
    torch.save(expected, tmp_path / "y.pt")
    code = (
        "import torch; from compressor.plugin.registry import Registry; "
        "from compressor.model.checkpoint import load_model; "
        f"m, _ = load_model({str(path)!r}, Registry.load()); "
        f"x = torch.load({str(tmp_path / 'x.pt')!r}); y = torch.load({str(tmp_path / 'y.pt')!r}); "
        "assert torch.allclose(m(x), y, atol=1e-6), 'outputs differ'; print('ok')"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "ok"


def test_bad_checkpoints_are_clear_errors(registry, tmp_path) -> None:
    with pytest.raises(UsageError, match="no such checkpoint"):
        load_model(tmp_path / "missing.pt", registry)
    model = _build(registry, "seed_mlp", hidden=[8])
    path = save_model(
        model,
        {"name": "seed_mlp", "options": {"hidden": [8]}},
        tmp_path / "m.pt",
        input_shape=[1, 8, 8],
        num_classes=10,
    )
    data = path.read_bytes()
    truncated = tmp_path / "truncated.pt"
    truncated.write_bytes(data[: len(data) // 2])
    with pytest.raises(UsageError, match="not a loadable checkpoint"):
        load_model(truncated, registry)
    torch.save({"weights": torch.zeros(1)}, tmp_path / "other.pt")
    with pytest.raises(UsageError, match="not a compressor model checkpoint"):
        load_model(tmp_path / "other.pt", registry)


def test_save_is_atomic_when_serialization_fails(tmp_path, monkeypatch) -> None:
    target = tmp_path / "model.pt"
    target.write_bytes(b"previous good checkpoint")

    def explode(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(torch, "save", explode)
    with pytest.raises(OSError):
        save_model(torch.nn.Linear(2, 2), {"name": "x"}, target, input_shape=[2], num_classes=2)
    assert target.read_bytes() == b"previous good checkpoint"
    assert [p.name for p in tmp_path.iterdir()] == ["model.pt"]


class _Payload:
    """Unpickling this creates a marker file: proof that a checkpoint's code ran."""

    marker: Path

    def __reduce__(self):
        return (Path.touch, (self.marker,))


def _saved(registry, tmp_path) -> bytes:
    model = _build(registry, "seed_mlp", hidden=[8])
    path = save_model(
        model,
        {"name": "seed_mlp", "options": {"hidden": [8]}},
        tmp_path / "good.pt",
        input_shape=[1, 8, 8],
        num_classes=10,
    )
    return path.read_bytes()


@pytest.mark.parametrize("how", ["random-bytes", "empty", "folder"])
def test_unreadable_checkpoints_are_one_line_errors(registry, tmp_path, how) -> None:
    path = tmp_path / "bad.pt"
    if how == "random-bytes":
        path.write_bytes(random.Random(0).randbytes(len(_saved(registry, tmp_path))))
    elif how == "empty":
        path.write_bytes(b"")
    else:
        path.mkdir()
    with pytest.raises(UsageError, match="not a loadable checkpoint") as excinfo:
        load_model(path, registry)
    assert str(excinfo.value).startswith(f"{path}: ") and "\n" not in str(excinfo.value)


@pytest.mark.parametrize("container", ["torch.save", "plain pickle"])
def test_a_pickled_object_is_refused_and_its_code_never_runs(registry, tmp_path, container) -> None:
    marker = tmp_path / "code-ran"
    payload = _Payload()
    payload.marker = marker
    path = tmp_path / "evil.pt"
    if container == "torch.save":
        torch.save({"format": "compressor.model", "spec": payload}, path)
    else:
        path.write_bytes(pickle.dumps(payload))
    pickle.loads(pickle.dumps(payload))  # the payload works: unpickling it does create the marker
    assert marker.exists()
    marker.unlink()
    with pytest.raises(UsageError, match="never unpickles") as excinfo:
        load_model(path, registry)
    assert not marker.exists()
    assert "\n" not in str(excinfo.value) and "weights_only=False" not in str(excinfo.value)


def test_a_damaged_checkpoint_payload_is_a_one_line_error(registry, tmp_path) -> None:
    torch.save(
        {"format": "compressor.model", "spec": {"name": "seed_mlp"}, "extra": {}}, tmp_path / "d.pt"
    )
    with pytest.raises(UsageError, match="damaged compressor checkpoint"):
        load_model(tmp_path / "d.pt", registry)
