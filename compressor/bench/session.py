"""onnxruntime sessions and what runs through them: providers, input batches, accuracy.

Imported at run time only, so onnxruntime and numpy load here at module level.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import onnxruntime as ort

from compressor.bench.timing import RunsOnnx
from compressor.data import DataSplit, batches, head, worker_errors

if TYPE_CHECKING:
    from compressor.data import DataBundle
    from compressor.task import Task

#: Short names of the execution providers, as recipes and metrics spell them.
PROVIDER_NAMES = {"cpu": "CPUExecutionProvider", "cuda": "CUDAExecutionProvider"}


def providers_for(device: str = "cpu") -> list[str]:
    """Execution providers for ``device``: CUDA first on a ``cuda`` device when available.

    Args:
        device: The run's torch device string (``cpu``, ``cuda``, ``cuda:1``).

    Returns:
        Full provider names, ``CPUExecutionProvider`` last.
    """
    available = ort.get_available_providers()
    providers = ["CPUExecutionProvider"]
    if device.startswith("cuda") and "CUDAExecutionProvider" in available:
        providers.insert(0, "CUDAExecutionProvider")
    return providers


def available_providers(device: str = "cpu") -> list[str]:
    """Short provider names to benchmark on.

    Args:
        device: The run's torch device string.

    Returns:
        ``cpu``, then ``cuda`` when ``device`` is a CUDA device and this onnxruntime build has
        the CUDA provider.
    """
    return [
        short
        for short in ("cpu", "cuda")
        if short == "cpu"
        or (device.startswith("cuda") and PROVIDER_NAMES[short] in ort.get_available_providers())
    ]


def make_session(
    path: str | Path | bytes,
    threads: int | None = None,
    device: str = "cpu",
    providers: list[str] | None = None,
) -> ort.InferenceSession:
    """Open ``path`` in onnxruntime with every graph optimization on.

    Args:
        path: The ``.onnx`` file, or a serialized model.
        threads: Intra-op threads; ``None`` keeps onnxruntime's default (one per core).
        device: ``cuda...`` adds the CUDA provider first when this onnxruntime has it.
        providers: Explicit execution providers, overriding ``device``.

    Returns:
        The session.
    """
    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.log_severity_level = 3  # errors only: ORT warns about routine graph rewrites
    if threads is not None:
        options.intra_op_num_threads = threads
    model = path if isinstance(path, bytes) else str(path)
    return ort.InferenceSession(model, options, providers=providers or providers_for(device))


def batch_of(split: DataSplit, batch_size: int) -> np.ndarray:
    """The first ``batch_size`` inputs of ``split`` as float32, repeating rows if it is smaller.

    Real inputs rather than random ones: some kernels' speed depends on the values (e.g.
    ReLU sparsity, denormals).

    Args:
        split: The samples.
        batch_size: Rows wanted.

    Returns:
        A contiguous float32 array of ``batch_size`` rows.

    Raises:
        ValueError: ``split`` is empty.
    """
    if len(split) == 0:
        raise ValueError("cannot build a batch from an empty split")
    x = head(split, batch_size).detach().cpu().numpy().astype(np.float32, copy=False)
    rows = np.arange(batch_size) % len(x)
    return np.ascontiguousarray(x[rows])


def onnx_score(
    session: RunsOnnx,
    split: DataSplit,
    batch_size: int,
    convert: Callable[[np.ndarray], np.ndarray] | None = None,
    pad: bool = False,
    *,
    task: Task | None = None,
    data: DataBundle | None = None,
) -> dict[str, Any]:
    """Every figure of the task's metric for the file on ``split``, in batches of ``batch_size``.

    The file's outputs go to the task's scorer as they come out of onnxruntime: the one form
    a PyTorch model's deployed outputs take in :func:`compressor.training.evaluation.score`.

    Args:
        session: The model.
        split: Labelled, normalized samples.
        batch_size: Samples per ``session.run``.
        convert: Turns normalized samples into the model's input (raw pixels for a model with
            embedded preprocessing, see :func:`compressor.onnx.inspection.to_model_inputs`).
        pad: Pad the last batch to ``batch_size`` (for graphs with a fixed batch size).
        task: The run's task (default: classification).
        data: The run's dataset (the task's scorer reads its classes and input shape).

    Returns:
        The scorer's figures (``{"accuracy": ...}``; ``{"map": ..., "map50": ...}``); NaN for
        an empty split.
    """
    from compressor.plugin.tasks import classification

    task = task or classification()
    scorer = task.scorer(data)  # type: ignore[arg-type]
    name = session.get_inputs()[0].name
    with worker_errors():
        for _, batch, targets in batches(split, batch_size):
            chunk = batch.detach().cpu().numpy().astype(np.float32, copy=False)
            if convert is not None:
                chunk = convert(chunk)
            short = len(chunk)
            if pad and short < batch_size:
                # A graph with a fixed batch size takes nothing else: pad, then drop the padding.
                chunk = chunk[np.arange(batch_size) % short]
            outputs = session.run(None, {name: np.ascontiguousarray(chunk)})
            scorer.update([output[:short] for output in outputs], targets.numpy())
    figures: dict[str, Any] = scorer.compute()
    return figures


def onnx_accuracy(
    session: RunsOnnx,
    split: DataSplit,
    batch_size: int,
    convert: Callable[[np.ndarray], np.ndarray] | None = None,
    pad: bool = False,
    *,
    task: Task | None = None,
    data: DataBundle | None = None,
) -> float:
    """The headline figure of :func:`onnx_score`: top-1 accuracy for classification (0..1),
    the task's metric otherwise; NaN for an empty split."""
    from compressor.plugin.tasks import classification

    task = task or classification()
    figures = onnx_score(session, split, batch_size, convert, pad, task=task, data=data)
    return float(figures[task.metric.key])
