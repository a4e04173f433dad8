"""Datasets with fixed train/validation/test splits, served in memory or streamed.

Dataset plugins return a :class:`DataBundle`: three splits with what is needed to describe
the input (shape, normalization, class names, the deployment preprocessing). A split is a
map-style ``Dataset`` of ``(input, label)``: :class:`Split` holds normalized tensors in memory
(the fast path); :class:`StreamedSplit` decodes samples of any map-style dataset through
``DataLoader`` workers, with the deterministic :class:`Preprocessing`. Consumers use the
:class:`DataSplit` protocol and :func:`batches` / :func:`head`, and work on both.
:func:`prepare_bundle` turns what a plugin returned into what a run serves (docs/data.md).

The modules: :mod:`~compressor.data.split` (``Split``, the protocol, the batch helpers),
:mod:`~compressor.data.streamed` (``StreamedSplit``, labels without decoding),
:mod:`~compressor.data.workers` (the persistent loader, worker errors),
:mod:`~compressor.data.preprocess` (``Preprocessing``), :mod:`~compressor.data.memory`
(sizes, the budget, worker counts), :mod:`~compressor.data.prepare` (the in-memory decision),
:mod:`~compressor.data.bundle` (``DataBundle``), :mod:`~compressor.data.indices` (seeded,
stratified split indices), :mod:`~compressor.data.decisions` (:func:`decision_split`: the split
a choice reads, validation unless the recipe explicitly says test).
"""

from __future__ import annotations

from compressor.data.bundle import DataBundle
from compressor.data.decisions import DECISION_SPLITS, ChoiceOnTestSplit, decision_split
from compressor.data.indices import split_indices, stratified_split_indices
from compressor.data.memory import Placement, materialize
from compressor.data.prepare import prepare_bundle
from compressor.data.preprocess import Preprocessing
from compressor.data.split import (
    Batch,
    DataSplit,
    NumpyRows,
    Split,
    batches,
    head,
    iterate_batches,
    num_batches,
)
from compressor.data.streamed import StreamedSplit, labels_of
from compressor.data.workers import SampleError, WorkerDied, worker_errors

__all__ = [
    "DECISION_SPLITS",
    "Batch",
    "ChoiceOnTestSplit",
    "DataBundle",
    "DataSplit",
    "NumpyRows",
    "Placement",
    "Preprocessing",
    "SampleError",
    "Split",
    "StreamedSplit",
    "WorkerDied",
    "batches",
    "decision_split",
    "head",
    "iterate_batches",
    "labels_of",
    "materialize",
    "num_batches",
    "prepare_bundle",
    "split_indices",
    "stratified_split_indices",
    "worker_errors",
]
