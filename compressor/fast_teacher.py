"""A faster teacher forward for distillation with augmentation.

With random augmentation the teacher must run on every training batch, and its forward pass is
most of a distillation step's cost. On the CPU, onnxruntime runs a small convolutional teacher
markedly faster than PyTorch eager, so compressor can hand the teacher's logits to onnxruntime.
``auto`` times both on a real batch and keeps the faster; outputs are checked against PyTorch
before the switch, and features (forward hooks) always come from PyTorch.
"""

from __future__ import annotations

import copy
import io
import time
import warnings
from collections.abc import Callable

import torch
from torch import nn

#: onnxruntime must agree with PyTorch this closely on the teacher's logits to be used.
ATOL = 1e-3


class OnnxTeacher(nn.Module):
    """A frozen teacher whose forward pass runs in onnxruntime (CPU).

    Args:
        model: The PyTorch teacher; exported once, in eval mode, with a dynamic batch axis.
        example: A real input batch (at least 2 rows), used to trace and to check agreement.
    """

    def __init__(self, model: nn.Module, example: torch.Tensor) -> None:
        super().__init__()
        import onnxruntime as ort

        buffer = io.BytesIO()
        cpu = copy.deepcopy(model).cpu().eval()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            torch.onnx.export(
                cpu, (example[:2].cpu(),), buffer, dynamo=False, input_names=["input"],
                output_names=["logits"], dynamic_axes={"input": {0: "batch"}, "logits": {0: "batch"}},
            )
        options = ort.SessionOptions()
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        # onnxruntime's threads spin after each run by default; between teacher calls they would
        # steal the cores PyTorch needs for the student's step.
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        self.session = ort.InferenceSession(buffer.getvalue(), options, providers=["CPUExecutionProvider"])
        with torch.no_grad():
            expected = cpu(example.cpu())
        error = (self(example) - expected).abs().max().item()
        if error > ATOL:
            raise ValueError(f"onnxruntime disagrees with PyTorch on the teacher by {error:.2e}")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.session.run(["logits"], {"input": x.detach().cpu().numpy()})[0]
        return torch.from_numpy(out).to(x.device)


def _time(forward: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor, repeat: int = 5) -> float:
    with torch.inference_mode():
        forward(x)
        started = time.perf_counter()
        for _ in range(repeat):
            forward(x)
    return (time.perf_counter() - started) / repeat


def fastest_teacher(model: nn.Module, example: torch.Tensor, backend: str) -> tuple[nn.Module, str]:
    """The teacher to use for logits, and which backend it runs on.

    Args:
        model: The PyTorch teacher (eval mode).
        example: A real training batch at the training batch size.
        backend: ``torch``, ``onnxruntime`` or ``auto`` (time both, keep the faster).
    """
    if backend == "torch" or example.device.type != "cpu":
        return model, "torch"
    try:
        onnx_teacher = OnnxTeacher(model, example)
    except Exception:
        if backend == "onnxruntime":
            raise
        return model, "torch"
    if backend == "onnxruntime" or _time(onnx_teacher, example) < _time(model, example):
        return onnx_teacher, "onnxruntime"
    return model, "torch"
