"""The shipped ``pretrained`` recipe validates once its teacher's weights file is given."""

from __future__ import annotations

import torch
import torchvision

from tests.compressor.cli.invoke import run_cli


def test_pretrained_validates_with_the_teacher_weights_set(capsys, tmp_path) -> None:
    weights = tmp_path / "resnet18_mnist.pt"
    torch.save(torchvision.models.resnet18(num_classes=10).state_dict(), weights)
    code, out, err = run_cli(
        capsys, "validate", "pretrained", "--set", f"stages.teacher.weights={weights}"
    )
    assert code == 0, err
    assert "valid recipe 'pretrained', 5 stages" in out
    assert "teacher (load) → half_width (distill) → mobile (distill)" in out


def test_without_the_file_validate_names_the_field_to_set(capsys, tmp_path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)  # no resnet18_mnist.pt here
    code, _, err = run_cli(capsys, "validate", "pretrained")
    assert code == 2
    assert "stages.teacher.weights: resnet18_mnist.pt: no such weights file" in err
    assert err.count("\n") == 1
