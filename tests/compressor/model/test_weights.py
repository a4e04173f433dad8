"""Weights files from anywhere: containers, wrapper prefixes, safe loading, keys that must match."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from torch import nn

from compressor.errors import UsageError
from compressor.model.weights import (
    adapt_input_channels,
    fit_state_dict,
    read_state_dict,
    strip_prefixes,
)


class Net(nn.Module):
    def __init__(self, channels: int = 1, classes: int = 10) -> None:
        super().__init__()
        self.stem = nn.Conv2d(channels, 4, 3, bias=False)
        self.bn = nn.BatchNorm2d(4)
        self.fc = nn.Linear(4, classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.bn(self.stem(x)).mean(dim=(2, 3)))


class _Payload:
    """Unpickling this creates a marker file: proof that a file's code ran."""

    marker: Path

    def __reduce__(self):
        return (Path.touch, (self.marker,))


@pytest.mark.parametrize(
    "wrap",
    [
        lambda s: s,
        lambda s: {"state_dict": {f"model.{k}": v for k, v in s.items()}, "epoch": 3},
        lambda s: {"model": {f"module.{k}": v for k, v in s.items()}, "optimizer": {}},
        lambda s: {"model_state_dict": {f"module._orig_mod.{k}": v for k, v in s.items()}},
    ],
    ids=["plain", "lightning", "ddp-in-model", "ddp-compiled"],
)
def test_weights_load_from_the_containers_training_scripts_write(tmp_path, wrap) -> None:
    source, target = Net(), Net()
    torch.save(wrap(source.state_dict()), tmp_path / "w.pt")
    report = fit_state_dict(target, read_state_dict(tmp_path / "w.pt"), source="w.pt")
    x = torch.randn(2, 1, 6, 6)
    assert torch.equal(source.eval()(x), target.eval()(x))
    assert report.loaded == len(source.state_dict())
    assert not report.missing and not report.unexpected


def test_a_pickled_module_is_refused_without_running_its_code(tmp_path) -> None:
    marker = tmp_path / "ran"
    payload = _Payload()
    payload.marker = marker
    torch.save({"state_dict": Net().state_dict(), "extra": payload}, tmp_path / "evil.pt")
    torch.save(Net(), tmp_path / "whole.pt")
    for name in ("evil.pt", "whole.pt"):
        with pytest.raises(
            UsageError, match=r"pickled Python objects .*torch.save\(model.state_dict\(\)"
        ):
            read_state_dict(tmp_path / name)
    assert not marker.exists()


def test_missing_truncated_and_empty_files_are_one_line_errors(tmp_path) -> None:
    torch.save(Net().state_dict(), tmp_path / "good.pt")
    (tmp_path / "cut.pt").write_bytes((tmp_path / "good.pt").read_bytes()[:300])
    torch.save({"epoch": 3, "lr": 0.1}, tmp_path / "no_tensors.pt")
    cases = {
        "nope.pt": "no such weights file",
        "cut.pt": "not a readable weights file, truncated",
        "no_tensors.pt": r"no state_dict found \(top-level keys: epoch, lr\)",
    }
    for name, message in cases.items():
        with pytest.raises(UsageError, match=message) as caught:
            read_state_dict(tmp_path / name)
        assert "\n" not in str(caught.value)


def test_strict_names_the_first_keys_and_suggests_strict_false() -> None:
    state = Net().state_dict()
    del state["fc.bias"]
    state["extra.weight"] = torch.zeros(1)
    with pytest.raises(
        UsageError, match=r"missing keys fc.bias; unexpected keys extra.weight\); set strict: false"
    ):
        fit_state_dict(Net(), dict(state), source="w.pt")
    target = Net()
    report = fit_state_dict(target, dict(state), source="w.pt", strict=False)
    assert report.missing == ["fc.bias"] and report.unexpected == ["extra.weight"]
    assert torch.equal(target.fc.weight, state["fc.weight"])
    assert report.as_metrics()["missing_keys"] == ["fc.bias"]


def test_shapes_that_do_not_fit_are_named_with_both_shapes() -> None:
    with pytest.raises(
        UsageError, match=r"fc.weight is \[3, 4\] in the weights, \[10, 4\] in the model"
    ):
        fit_state_dict(Net(), Net(classes=3).state_dict(), source="w.pt")
    with pytest.raises(UsageError, match="no key matches the model"):
        fit_state_dict(Net(), {"other.weight": torch.zeros(2)}, source="w.pt", strict=False)


def test_rgb_stem_weights_fit_grey_data_with_the_same_response() -> None:
    rgb, grey = Net(channels=3), Net(channels=1)
    report = fit_state_dict(grey, rgb.state_dict(), source="w.pt")
    assert report.adapted == ["stem.weight: 3 -> 1 input channels"]
    x = torch.randn(2, 1, 6, 6)
    assert torch.allclose(grey.eval()(x), rgb.eval()(x.repeat(1, 3, 1, 1)), atol=1e-5)
    # A multiple of the count tiles the kernel and keeps the sum over inputs.
    kernel = torch.randn(4, 3, 3, 3)
    assert adapt_input_channels(kernel, 6).shape == (4, 6, 3, 3)
    assert torch.allclose(adapt_input_channels(kernel, 6).sum(1), kernel.sum(1), atol=1e-5)


def test_prefixes_come_off_only_when_they_make_keys_match() -> None:
    expected = {"features.0.weight", "fc.weight"}
    state = {"module.features.0.weight": torch.zeros(1), "module.fc.weight": torch.zeros(1)}
    assert strip_prefixes(state, expected)[1] == "module."
    # Already matching: "features." is the model's own module, not a wrapper.
    plain = {"features.0.weight": torch.zeros(1), "fc.weight": torch.zeros(1)}
    assert strip_prefixes(plain, expected) == (plain, "")


def test_safetensors_files_load(tmp_path) -> None:
    safetensors = pytest.importorskip("safetensors.torch")
    source = Net()
    safetensors.save_file(source.state_dict(), str(tmp_path / "w.safetensors"))
    target = Net()
    fit_state_dict(target, read_state_dict(tmp_path / "w.safetensors"), source="w")
    assert torch.equal(target.stem.weight, source.stem.weight)
