"""Datasets with fixed train/validation/test splits: what a dataset plugin returns.

Dataset plugins return a :class:`DataBundle`: three splits, already normalized, with what is
needed to describe the input (shape, normalization, class names).

The modules: :mod:`compressor.data.split` (the in-memory :class:`Split` and its batches),
:mod:`compressor.data.bundle` (:class:`DataBundle`), :mod:`compressor.data.indices` (seeded,
stratified split indices).
"""

from __future__ import annotations

from compressor.data.bundle import DataBundle
from compressor.data.indices import split_indices, stratified_split_indices
from compressor.data.split import Split, iterate_batches, num_batches

__all__ = [
    "DataBundle",
    "Split",
    "iterate_batches",
    "num_batches",
    "split_indices",
    "stratified_split_indices",
]
