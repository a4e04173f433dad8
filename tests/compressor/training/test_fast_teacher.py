"""The faster teacher forward: every backend gives PyTorch's logits."""

from __future__ import annotations

import pytest
import torch

from compressor.training.fast_teacher import (
    ChannelsLastTeacher,
    OnnxTeacher,
    TorchScriptTeacher,
    fastest_teacher,
)


@pytest.fixture(scope="module")
def cnn(registry):
    record = registry.get("model", "seed_cnn")
    torch.manual_seed(0)
    model = record.build(
        record.options(channels=[8, 16], hidden=32), input_shape=(1, 8, 8), num_classes=10
    )
    return model.eval()


@pytest.mark.parametrize("backend", ["channels_last", "torchscript", "onnxruntime", "auto"])
def test_every_backend_agrees_with_pytorch(cnn, backend) -> None:
    x = torch.randn(16, 1, 8, 8)
    fast, name = fastest_teacher(cnn, x, backend)
    assert name == ("torchscript" if backend == "auto" else backend)
    with torch.no_grad():
        torch.testing.assert_close(fast(x), cnn(x), atol=1e-4, rtol=1e-4)
        any_batch = torch.randn(3, 1, 8, 8)
        torch.testing.assert_close(fast(any_batch).shape, torch.Size([3, 10]))


def test_torch_backend_is_the_model_itself(cnn) -> None:
    assert fastest_teacher(cnn, torch.randn(4, 1, 8, 8), "torch") == (cnn, "torch")


def test_channels_last_leaves_the_original_and_flat_inputs_alone(cnn, registry) -> None:
    wrapped = ChannelsLastTeacher(cnn)
    assert next(cnn.parameters()).is_contiguous()  # the original keeps its layout
    record = registry.get("model", "seed_mlp")
    mlp = record.build(record.options(hidden=[8]), input_shape=(1, 8, 8), num_classes=10).eval()
    flat = torch.randn(4, 64)
    with torch.no_grad():
        torch.testing.assert_close(
            ChannelsLastTeacher(mlp)(flat.view(4, 1, 8, 8)), mlp(flat.view(4, 1, 8, 8))
        )
        assert wrapped(torch.randn(2, 1, 8, 8)).shape == (2, 10)


@pytest.mark.parametrize("backend", [OnnxTeacher, TorchScriptTeacher])
def test_compiled_teachers_refuse_to_disagree(cnn, monkeypatch, backend) -> None:
    # Nothing can agree that closely.
    monkeypatch.setattr("compressor.training.fast_teacher.ATOL", -1.0)
    with pytest.raises(ValueError, match="disagrees with PyTorch"):
        backend(cnn, torch.randn(4, 1, 8, 8))


class _NaNLogits(torch.nn.Module):
    """A teacher whose every logit is NaN, in PyTorch and once exported alike."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.flatten(1)[:, :10] * float("nan")


@pytest.mark.parametrize("backend", [OnnxTeacher, TorchScriptTeacher])
def test_a_nan_teacher_does_not_pass_the_agreement_check(backend) -> None:
    # NaN - NaN is NaN, and NaN > ATOL is false: the check must be written so NaN fails.
    with pytest.raises(ValueError, match="disagrees with PyTorch on the teacher by nan"):
        backend(_NaNLogits(), torch.randn(16, 1, 8, 8))


class _BatchDependent(torch.nn.Module):
    """Eager code whose result depends on the batch size: tracing bakes the size in."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        flat = x.flatten(1)
        return flat[:, :10] * float(int(x.shape[0]) == 16)


def test_torchscript_teacher_checks_another_batch_size() -> None:
    with pytest.raises(ValueError, match="TorchScript disagrees"):
        TorchScriptTeacher(_BatchDependent(), torch.randn(16, 1, 8, 8))


def test_auto_falls_back_to_channels_last_when_tracing_is_wrong(cnn) -> None:
    fast, name = fastest_teacher(_BatchDependent(), torch.randn(16, 1, 8, 8), "auto")
    assert name == "channels_last" and isinstance(fast, ChannelsLastTeacher)


def test_auto_is_a_fixed_rule(cnn) -> None:
    # Two runs of one recipe must pick the same backend: no timing decides.
    picks = {fastest_teacher(cnn, torch.randn(8, 1, 8, 8), "auto")[1] for _ in range(3)}
    assert picks == {"torchscript"}
    assert fastest_teacher(cnn, torch.randn(8, 64), "auto")[1] == "torch"  # not an image batch
