"""Measuring models: onnxruntime accuracy, latency percentiles, throughput, and the machine's
limits; PyTorch eager latency beside them.

- :mod:`compressor.bench.timing`: cells timed in interleaved rounds, percentile summaries,
  round spreads, and the throughput and GFLOP/s formulas.
- :mod:`compressor.bench.session`: onnxruntime providers and sessions, input batches, accuracy.
- :mod:`compressor.bench.limits`: the per-call floor and the MatMul peak, and how close a model
  runs to them.
- :mod:`compressor.bench.files`: several ONNX files benchmarked side by side.
- :mod:`compressor.bench.eager`: PyTorch eager latency, measured the same way.

Shared by the ``benchmark`` stage and ``compressor bench MODEL.onnx``. The submodules other
than :mod:`~compressor.bench.timing` import numpy and onnxruntime (or torch) at module level:
import them at run time only.
"""

from __future__ import annotations
