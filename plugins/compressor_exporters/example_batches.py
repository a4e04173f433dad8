"""Which example inputs an exporter traces, and which it checks the saved file on.

Both built-in exporters trace :data:`TRACE_BATCH` samples and check the file at another batch
size, so that a batch size baked into the graph fails the check rather than a deployment.
"""

from __future__ import annotations

import torch

from compressor.errors import StageFailure

#: Samples traced. Not 1: torch.export specializes size-1 dimensions, which would pin the batch.
TRACE_BATCH = 2


def example_batches(
    example_inputs: torch.Tensor, *, exporter: str
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """The example inputs on the CPU, the batch to trace and the batch to check parity on.

    Args:
        example_inputs: Real, normalized inputs (e.g. 64 test samples), on any device.
        exporter: What needs them, as the error message names it (e.g. ``ONNX export``).

    Returns:
        ``(inputs, trace, parity)``: the inputs, detached and on the CPU; their first
        :data:`TRACE_BATCH` rows (repeated when there are fewer); and all of them, with the
        first repeated once more when they number exactly :data:`TRACE_BATCH`.

    Raises:
        StageFailure: ``example_inputs`` is empty.
    """
    inputs = example_inputs.detach().to("cpu")
    if len(inputs) == 0:
        raise StageFailure(f"{exporter} needs at least one example input")
    trace = inputs[:TRACE_BATCH]
    if len(trace) < TRACE_BATCH:
        trace = trace.repeat(TRACE_BATCH, *([1] * (inputs.dim() - 1)))[:TRACE_BATCH]
    # The parity batch must differ from the traced one, or a batch size baked into the graph
    # would go unnoticed.
    parity = inputs if len(inputs) != TRACE_BATCH else torch.cat([inputs, inputs[:1]])
    return inputs, trace, parity
