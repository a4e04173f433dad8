"""Detection tests run their tiny models on one thread.

Their convolutions are a few thousand multiply-adds per call: split over two threads they only
wait on each other, and on a busy machine the waiting costs ten times the work.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import torch


@pytest.fixture(autouse=True)
def one_thread() -> Iterator[None]:
    """torch on one intra-op thread for the test, restored after it."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)
