"""PyTorch eager latency, measured the way :mod:`compressor.bench.timing` times onnxruntime.

Shown beside the onnxruntime figures so a report says what exporting bought: the same model,
the same inputs, the same warm-up and repeat rules. On CUDA every call is synchronized, so the
time is the whole forward pass, not its launch.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager

import torch
from torch import nn

from compressor.bench.timing import summarize


@contextmanager
def torch_threads(threads: int | None) -> Iterator[None]:
    """Run the block with ``threads`` intra-op threads (``None``: leave torch's setting).

    Args:
        threads: torch intra-op threads for the block; restored after it.
    """
    before = torch.get_num_threads()
    if threads is not None:
        torch.set_num_threads(threads)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def measure_eager(
    model: nn.Module,
    inputs: torch.Tensor,
    *,
    device: str = "cpu",
    warmup: int = 10,
    repeat: int = 100,
    min_seconds: float = 0.5,
) -> dict[str, float]:
    """Time ``model(inputs)`` under ``torch.inference_mode``: ``warmup`` untimed calls, then at
    least ``repeat`` timed calls and at least ``min_seconds`` of them.

    Args:
        model: The model; moved to ``device`` and put in eval mode.
        inputs: The batch it is called with.
        device: A torch device string; on CUDA every call is synchronized.
        warmup: Untimed calls first.
        repeat: Timed calls at least.
        min_seconds: Seconds of timed calls at least.

    Returns:
        Milliseconds per call: ``p50``, ``p90``, ``p95``, ``p99``, ``mean``, ``min``; ``runs``.
    """
    model = model.to(device).eval()
    x = inputs.to(device)
    sync = torch.cuda.synchronize if device.startswith("cuda") else (lambda: None)
    clock = time.perf_counter
    times: list[float] = []
    with torch.inference_mode():
        for _ in range(warmup):
            model(x)
        sync()
        started = clock()
        while len(times) < repeat or clock() - started < min_seconds:
            t0 = clock()
            model(x)
            sync()
            times.append(clock() - t0)
    return summarize(times)
