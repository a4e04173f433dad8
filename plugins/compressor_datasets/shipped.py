"""The data files shipped in this package (``data/``, with their sources and licences)."""

from __future__ import annotations

import gzip
from importlib.resources import files

import numpy as np

from compressor.errors import UsageError


def read_shipped(name: str, pixels: int) -> tuple[np.ndarray, np.ndarray]:
    """Read ``data/NAME``: rows of ``pixels`` integer pixel values, then the label.

    Args:
        name: The file in ``compressor_datasets/data/``.
        pixels: Pixel values per row.

    Returns:
        ``(pixels, labels)``: uint8 ``(N, pixels)`` and int64 ``(N,)``.

    Raises:
        UsageError: The file is missing (a broken install) or has another number of columns.
    """
    resource = files("compressor_datasets").joinpath("data", name)
    try:
        with resource.open("rb") as raw, gzip.open(raw, "rt") as text:
            rows = np.loadtxt(text, delimiter=",", dtype=np.uint8)
    except FileNotFoundError:
        raise UsageError(
            f"{resource}: the shipped data file is missing; reinstall compressor"
        ) from None
    if rows.ndim != 2 or rows.shape[1] != pixels + 1:
        raise UsageError(f"{resource}: expected {pixels + 1} columns per row, got {rows.shape}")
    return np.ascontiguousarray(rows[:, :pixels]), rows[:, pixels].astype(np.int64)
