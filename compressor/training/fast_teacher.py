"""A faster teacher forward for distillation with augmentation.

With random augmentation the teacher must run on every training batch, and its forward pass is
most of a distillation step's cost. On the CPU three backends beat PyTorch eager on a small
convolutional teacher: TorchScript frozen and optimized for inference (BatchNorm folded into the
convolutions, weights prepacked for oneDNN: about 3x eager here), onnxruntime, and PyTorch's
channels-last memory format (1.3-2x). ``auto`` picks TorchScript on the CPU and falls back to
channels-last when the teacher cannot be traced; every backend but ``torch`` is checked against
PyTorch eager before the switch, and features (forward hooks) always come from PyTorch eager.
A teacher given only as an ONNX file (:class:`OnnxFileTeacher`) always runs in onnxruntime.
"""

from __future__ import annotations

import copy
import hashlib
import io
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from compressor.errors import UsageError

#: onnxruntime must agree with PyTorch this closely on the teacher's logits to be used.
ATOL = 1e-3
#: Rows of the example batch the TorchScript teacher is traced and checked on.
CHECK_ROWS = 16


def require_agreement(actual: torch.Tensor, expected: torch.Tensor, backend: str) -> None:
    """Raise unless ``actual`` is within :data:`ATOL` of PyTorch eager's ``expected``.

    Written as ``not error <= ATOL`` so that a NaN anywhere fails: every comparison with NaN is
    false, and ``error > ATOL`` would let a teacher answering NaN through.

    Raises:
        ValueError: The largest difference is over :data:`ATOL`, or NaN.
    """
    error = (actual.cpu() - expected.cpu()).abs().max().item()
    if not error <= ATOL:
        raise ValueError(f"{backend} disagrees with PyTorch on the teacher by {error:.2e}")


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
                cpu,
                (example[:2].cpu(),),
                # The TorchScript exporter writes to a file object too; torch annotates paths only.
                buffer,  # type: ignore[arg-type]
                dynamo=False,
                input_names=["input"],
                output_names=["logits"],
                dynamic_axes={"input": {0: "batch"}, "logits": {0: "batch"}},
            )
        self.session = ort.InferenceSession(
            buffer.getvalue(), _session_options(), providers=["CPUExecutionProvider"]
        )
        with torch.no_grad():
            require_agreement(self(example), cpu(example.cpu()), "onnxruntime")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.session.run(["logits"], {"input": x.detach().cpu().numpy()})[0]
        return torch.from_numpy(out).to(x.device)


def _session_options() -> Any:
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    # onnxruntime's threads spin after each run by default; between teacher calls they would
    # steal the cores PyTorch needs for the student's step.
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    return options


class OnnxFileTeacher(nn.Module):
    """A teacher given only as an ONNX file: its forward pass runs in onnxruntime (CPU).

    It takes the dataset's normalized batches and returns logits, like a PyTorch teacher; a
    file that normalizes inside its graph (compressor's ``embed_normalization`` exports, uint8
    inputs) gets raw pixels. It can teach logit losses only (it has no modules to tap), and
    cannot be pruned, exported or trained. The file's SHA-256 is a buffer, so the stage cache's
    digest of the teacher covers the file's content.

    Args:
        path: The ONNX file.
        mean: The dataset's per-channel mean (0..1 scale).
        std: The dataset's per-channel standard deviation.

    Raises:
        UsageError: The file is missing or not a readable ONNX model with one input.
    """

    #: What :func:`fastest_teacher` reports for it (it is already as fast as it gets here).
    runs_in_onnxruntime = True

    def __init__(self, path: str | Path, mean: Sequence[float], std: Sequence[float]) -> None:
        super().__init__()
        import onnxruntime as ort

        from compressor.onnx.inspection import input_spec, load_onnx

        self.path = Path(path)
        self.spec = input_spec(load_onnx(self.path))
        self.mean, self.std = list(mean), list(std)
        self.session = ort.InferenceSession(
            str(self.path), _session_options(), providers=["CPUExecutionProvider"]
        )
        self.output = self.session.get_outputs()[0].name
        digest = hashlib.sha256(self.path.read_bytes()).digest()
        self.register_buffer("onnx_sha256", torch.tensor(list(digest), dtype=torch.uint8))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        from compressor.onnx.inspection import to_model_inputs

        rows = x.detach().cpu().float().numpy()
        fixed = self.spec.fixed_batch
        chunks = (
            [rows] if fixed is None else [rows[i : i + fixed] for i in range(0, len(rows), fixed)]
        )
        outputs = []
        for chunk in chunks:
            count = len(chunk)
            if fixed is not None and count < fixed:
                # A graph with a baked-in batch size: pad with copies of the last row.
                chunk = np.concatenate([chunk, np.repeat(chunk[-1:], fixed - count, axis=0)])
            feed = to_model_inputs(chunk, self.spec, self.mean, self.std)
            outputs.append(self.session.run([self.output], {self.spec.name: feed})[0][:count])
        return torch.from_numpy(np.concatenate(outputs)).float().to(x.device)

    def __deepcopy__(self, memo: dict[int, Any]) -> OnnxFileTeacher:
        raise UsageError(
            f"{self.path.name} is an ONNX teacher: it can teach (logit losses), but not be "
            "pruned, exported or trained; load the PyTorch model it came from for that"
        )


class TorchScriptTeacher(nn.Module):
    """A frozen teacher traced, frozen and optimized for inference by TorchScript.

    ``torch.jit.optimize_for_inference`` folds BatchNorm into the preceding convolutions and keeps
    the weights prepacked in oneDNN's blocked layout, which eager PyTorch re-derives every call.
    TorchScript is deprecated in favour of ``torch.compile``, whose CPU backend compiles C++ for
    a minute before the first step; any failure here (an untraceable teacher, a PyTorch without
    TorchScript) lets :func:`fastest_teacher` fall back to channels-last.

    Args:
        model: The PyTorch teacher (a copy is traced; the original is untouched).
        example: A real input batch (at least 2 rows), used to trace and to check agreement.

    Raises:
        ValueError: The traced teacher disagrees with PyTorch eager on the example's first
            :data:`CHECK_ROWS` rows or on fewer (a second batch size).
    """

    def __init__(self, model: nn.Module, example: torch.Tensor) -> None:
        super().__init__()
        eager = copy.deepcopy(model).eval()
        with warnings.catch_warnings(), torch.no_grad():
            # Deprecation and tracer warnings: the agreement check below is what counts.
            warnings.simplefilter("ignore")
            # A few rows trace as well as a full batch, and the checks cost eager passes.
            rows = example[:CHECK_ROWS]
            traced = torch.jit.trace(eager, (rows,), check_trace=False)
            self.module = torch.jit.optimize_for_inference(torch.jit.freeze(traced))
            # A second batch size catches shapes that tracing baked in.
            for batch in (rows, rows[: max(1, len(rows) // 2 - 1)]):
                require_agreement(self.module(batch), eager(batch), "TorchScript")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.module(x)


class ChannelsLastTeacher(nn.Module):
    """A frozen PyTorch teacher run in the channels-last memory format.

    oneDNN's convolutions and PyTorch's pooling are vectorized over channels in this layout; on
    the CPU a small convolutional teacher runs 1.3-2x as fast as in the default layout.

    Args:
        model: The teacher (a copy is converted; the original is untouched).
    """

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = copy.deepcopy(model).eval().to(memory_format=torch.channels_last)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() == 4:
            x = x.contiguous(memory_format=torch.channels_last)
        return self.model(x)


def fastest_teacher(model: nn.Module, example: torch.Tensor, backend: str) -> tuple[nn.Module, str]:
    """The teacher to use for logits, and which backend it runs on.

    ``auto`` is a fixed rule, not a timing: choosing by the clock could pick differently in two
    runs of the same recipe, and the backends' last bits differ, so the runs would too. On the
    CPU it picks ``torchscript`` for image batches (about 3x eager for a small CNN), or
    ``channels_last`` when the teacher cannot be traced or the traced one disagrees with eager
    (both outcomes depend only on the model, so two runs choose alike); ``torch`` for other
    inputs and on other devices.

    Args:
        model: The PyTorch teacher (eval mode).
        example: A real training batch at the training batch size.
        backend: ``torch``, ``channels_last``, ``torchscript``, ``onnxruntime`` or ``auto``.

    Raises:
        ValueError: ``onnxruntime`` or ``torchscript`` was asked for and disagrees with PyTorch
            on ``example``.
    """
    if getattr(model, "runs_in_onnxruntime", False):
        return model, "onnxruntime"
    if backend == "torch" or example.device.type != "cpu":
        return model, "torch"
    if backend == "onnxruntime":
        return OnnxTeacher(model, example), "onnxruntime"
    if backend == "torchscript":
        return TorchScriptTeacher(model, example), "torchscript"
    if backend == "channels_last":
        return ChannelsLastTeacher(model), "channels_last"
    if example.dim() != 4:
        return model, "torch"
    try:
        return TorchScriptTeacher(model, example), "torchscript"
    except Exception:  # noqa: BLE001 - any tracing failure means: use the eager fallback
        return ChannelsLastTeacher(model), "channels_last"
